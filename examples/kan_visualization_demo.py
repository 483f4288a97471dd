"""
KAN Visualization and Interpretability Demo
This script demonstrates how to visualize learned spline functions in
Kolmogorov-Arnold Networks (KANs) and extract interpretable symbolic forms.
Key concepts demonstrated:
1. Training a KAN on a compositional function
1. Visualizing the network structure and learned activations
1. Extracting symbolic representations of learned functions
1. Comparing learned vs true functions

(kanlab) The mission document's script, re-indented, with `from kanlab import KAN`. Other
changes, each marked "added:" or "changed:": matplotlib renders off-screen (Agg); `--quick`
(or KANLAB_DEMO_QUICK=1) trains 5 LBFGS steps per stage instead of 100/50 (smoke test); the
start-up check looks for kanlab instead of pykan; smart quotes became plain ones.
Writes kan_structure_grid{3,5,10,20}.png, kan_symbolic_final.png,
individual_activations_layer0.png, function_comparison.png and 1d_slices.png to the current
directory (and kan_plots/).
"""
import os  # added: --quick / KANLAB_DEMO_QUICK
import sys  # added

import matplotlib  # added: render to files, no display needed
matplotlib.use("Agg")  # added

import torch
import numpy as np
import matplotlib.pyplot as plt
from kanlab import KAN

# added: smoke-test mode (the test suite runs the script this way)
QUICK = "--quick" in sys.argv[1:] or os.environ.get("KANLAB_DEMO_QUICK") == "1"
STEPS, FINETUNE_STEPS = (5, 5) if QUICK else (100, 50)  # added

# Set random seed for reproducibility
torch.manual_seed(42)
np.random.seed(42)


def create_target_function():
    """
    Define a compositional target function that KAN should decompose well.
    f(x, y) = sin(x) * exp(-y^2)
    This has clear compositional structure:
    - sin(x) depends only on x
    - exp(-y^2) depends only on y
    - Final output is their product
    """
    def f(x, y):
        return torch.sin(x) * torch.exp(-y**2)
    return f


def generate_training_data(n_samples=1000):
    """Generate training data from the target function."""
    # Sample inputs uniformly
    x = torch.rand(n_samples, 1) * 2 * np.pi - np.pi  # [-π, π]
    y = torch.rand(n_samples, 1) * 2 - 1  # [-1, 1]
    X = torch.cat([x, y], dim=1)
    # Compute target values
    target_fn = create_target_function()
    y_target = target_fn(x, y)
    return X, y_target, x, y


def train_kan_with_visualization(X_train, y_train):
    """
    Train a KAN with progressive grid refinement and visualize at each stage.
    """
    # Create dataset in PyKAN format
    dataset = {
        'train_input': X_train,
        'train_label': y_train
    }
    # Initialize KAN: 2 inputs -> 5 hidden neurons -> 1 output
    # Keeping it small for interpretability
    print("Initializing KAN [2, 5, 1]...")
    model = KAN([2, 5, 1], grid=3, k=3, seed=0)
    model.speed()  # CRITICAL: Enables fast mode (10-30x speedup)
    # Progressive training with grid refinement
    grid_sizes = [3, 5, 10, 20]
    for i, grid_size in enumerate(grid_sizes):
        print(f"\n{'='*60}")
        print(f"Training with grid size: {grid_size}")
        print(f"{'='*60}")
        # Train for this grid size
        results = model.fit(
            dataset,
            opt="LBFGS",  # LBFGS works well for small datasets
            steps=STEPS,  # changed: was 100 (5 with --quick)
            lamb=0.01,  # Regularization to encourage sparsity
            lamb_entropy=2.0  # Encourage uniform neuron usage
        )
        print(f"Final loss: {results['train_loss'][-1]:.6f}")
        # Visualize at this stage
        print(f"Generating visualization for grid size {grid_size}...")
        fig, ax = plt.subplots(figsize=(12, 8))
        model.plot(
            beta=10,  # Controls transparency (higher = more transparent for weak connections)
            folder=f'./kan_plots',
            in_vars=['x', 'y'],
            out_vars=['f(x,y)'],
            title=f'KAN Structure (Grid={grid_size})'
        )
        plt.savefig(f'kan_structure_grid{grid_size}.png', dpi=150, bbox_inches='tight')
        plt.close()
        # Refine grid for next iteration (except on last iteration)
        if i < len(grid_sizes) - 1:
            print("Refining grid...")
            model.refine(grid_factor=2)
    return model


def suggest_symbolic_forms(model):
    """
    Analyze learned activation functions and suggest symbolic forms.
    """
    print("\n" + "="*60)
    print("SYMBOLIC ANALYSIS")
    print("="*60)
    # Library of symbolic functions to try
    symbolic_lib = [
        'x', 'x^2', 'x^3', 'x^4',
        '1/x', '1/x^2',
        'sqrt', 'x^0.5',
        'sin', 'cos', 'tan',
        'exp', 'log',
        'abs', 'sgn',
        'arcsin', 'arccos', 'arctan',
        '1/(1+exp(-x))'  # sigmoid
    ]
    print("\nSuggesting symbolic forms for learned activations...")
    model.suggest_symbolic(lib=symbolic_lib)
    # Automatically convert suitable activations to symbolic form
    print("\nAttempting automatic symbolic conversion...")
    model.auto_symbolic(lib=symbolic_lib)
    # Fine-tune after symbolic substitution
    print("\nFine-tuning with symbolic forms...")
    dataset = {
        'train_input': model.cache_data,
        'train_label': model.cache_target
    }
    model.fit(dataset, opt="LBFGS", steps=FINETUNE_STEPS, lamb=0.0)  # changed: was steps=50
    # Visualize final symbolic form
    print("\nGenerating final symbolic visualization...")
    model.plot(
        beta=10,
        folder='./kan_plots',
        in_vars=['x', 'y'],
        out_vars=['f(x,y)'],
        title='KAN with Symbolic Forms'
    )
    plt.savefig('kan_symbolic_final.png', dpi=150, bbox_inches='tight')
    plt.close()


def visualize_individual_activations(model, layer_idx=0):
    """
    Visualize individual learned activation functions in detail.
    """
    print("\n" + "="*60)
    print(f"INDIVIDUAL ACTIVATION FUNCTIONS (Layer {layer_idx})")
    print("="*60)
    n_in = model.width[layer_idx]
    n_out = model.width[layer_idx + 1]
    fig, axes = plt.subplots(n_out, n_in, figsize=(4*n_in, 3*n_out))
    if n_out == 1:
        axes = axes.reshape(1, -1)
    if n_in == 1:
        axes = axes.reshape(-1, 1)
    # Sample points for evaluation
    x_range = torch.linspace(-1, 1, 200).unsqueeze(1)
    for i in range(n_in):
        for j in range(n_out):
            ax = axes[j, i]
            # Extract the activation function for this edge
            with torch.no_grad():
                # Get the learned spline function
                activation_fn = model.act_fun[layer_idx][j]
                y_vals = activation_fn[:, i:i+1](x_range)
            # Plot
            ax.plot(x_range.numpy(), y_vals.numpy(), 'b-', linewidth=2)
            ax.set_title(f'Input {i} → Hidden {j}', fontsize=10)
            ax.set_xlabel('Input value', fontsize=8)
            ax.set_ylabel('Activation output', fontsize=8)
            ax.grid(True, alpha=0.3)
            ax.axhline(y=0, color='k', linewidth=0.5, alpha=0.3)
            ax.axvline(x=0, color='k', linewidth=0.5, alpha=0.3)
    plt.tight_layout()
    plt.savefig(f'individual_activations_layer{layer_idx}.png', dpi=150)
    plt.close()
    print(f"Saved: individual_activations_layer{layer_idx}.png")


def compare_learned_vs_true(model, target_fn, resolution=100):
    """
    Compare the learned function against the true function.
    """
    print("\n" + "="*60)
    print("COMPARING LEARNED VS TRUE FUNCTION")
    print("="*60)
    # Create test grid
    x_test = torch.linspace(-np.pi, np.pi, resolution)
    y_test = torch.linspace(-1, 1, resolution)
    X, Y = torch.meshgrid(x_test, y_test, indexing='ij')
    # Flatten for model evaluation
    X_flat = X.flatten().unsqueeze(1)
    Y_flat = Y.flatten().unsqueeze(1)
    XY_test = torch.cat([X_flat, Y_flat], dim=1)
    # Compute true and predicted values
    with torch.no_grad():
        Z_true = target_fn(X_flat, Y_flat).reshape(resolution, resolution)
        Z_pred = model(XY_test).reshape(resolution, resolution)
    # Calculate error
    error = (Z_true - Z_pred).abs()
    mse = torch.mean(error**2).item()
    mae = torch.mean(error).item()
    max_error = torch.max(error).item()
    print(f"Mean Squared Error: {mse:.6f}")
    print(f"Mean Absolute Error: {mae:.6f}")
    print(f"Max Error: {max_error:.6f}")
    # Create comparison plot
    fig, axes = plt.subplots(1, 3, figsize=(18, 5))
    # True function
    im1 = axes[0].contourf(X.numpy(), Y.numpy(), Z_true.numpy(),
                           levels=20, cmap='viridis')
    axes[0].set_title('True Function: sin(x) * exp(-y²)', fontsize=14)
    axes[0].set_xlabel('x', fontsize=12)
    axes[0].set_ylabel('y', fontsize=12)
    plt.colorbar(im1, ax=axes[0])
    # Learned function
    im2 = axes[1].contourf(X.numpy(), Y.numpy(), Z_pred.numpy(),
                           levels=20, cmap='viridis')
    axes[1].set_title('KAN Learned Function', fontsize=14)
    axes[1].set_xlabel('x', fontsize=12)
    axes[1].set_ylabel('y', fontsize=12)
    plt.colorbar(im2, ax=axes[1])
    # Error
    im3 = axes[2].contourf(X.numpy(), Y.numpy(), error.numpy(),
                           levels=20, cmap='Reds')
    axes[2].set_title(f'Absolute Error (MAE={mae:.4f})', fontsize=14)
    axes[2].set_xlabel('x', fontsize=12)
    axes[2].set_ylabel('y', fontsize=12)
    plt.colorbar(im3, ax=axes[2])
    plt.tight_layout()
    plt.savefig('function_comparison.png', dpi=150)
    plt.close()
    print("Saved: function_comparison.png")


def visualize_1d_slices(model, target_fn):
    """
    Visualize 1D slices of the function to see how each input is processed.
    """
    print("\n" + "="*60)
    print("1D SLICES - Understanding Input Processing")
    print("="*60)
    fig, axes = plt.subplots(1, 2, figsize=(14, 5))
    # Fix y=0, vary x
    x_range = torch.linspace(-np.pi, np.pi, 200).unsqueeze(1)
    y_fixed = torch.zeros_like(x_range)
    XY = torch.cat([x_range, y_fixed], dim=1)
    with torch.no_grad():
        y_true = target_fn(x_range, y_fixed)
        y_pred = model(XY)
    axes[0].plot(x_range.numpy(), y_true.numpy(), 'b-', linewidth=2, label='True: sin(x)')
    axes[0].plot(x_range.numpy(), y_pred.numpy(), 'r--', linewidth=2, label='KAN Learned')
    axes[0].set_xlabel('x (with y=0)', fontsize=12)
    axes[0].set_ylabel('f(x, 0)', fontsize=12)
    axes[0].set_title('Effect of x on output', fontsize=14)
    axes[0].legend()
    axes[0].grid(True, alpha=0.3)
    # Fix x=0, vary y
    y_range = torch.linspace(-1, 1, 200).unsqueeze(1)
    x_fixed = torch.zeros_like(y_range)
    XY = torch.cat([x_fixed, y_range], dim=1)
    with torch.no_grad():
        y_true = target_fn(x_fixed, y_range)
        y_pred = model(XY)
    axes[1].plot(y_range.numpy(), y_true.numpy(), 'b-', linewidth=2, label='True: exp(-y²)')
    axes[1].plot(y_range.numpy(), y_pred.numpy(), 'r--', linewidth=2, label='KAN Learned')
    axes[1].set_xlabel('y (with x=0)', fontsize=12)
    axes[1].set_ylabel('f(0, y)', fontsize=12)
    axes[1].set_title('Effect of y on output', fontsize=14)
    axes[1].legend()
    axes[1].grid(True, alpha=0.3)
    plt.tight_layout()
    plt.savefig('1d_slices.png', dpi=150)
    plt.close()
    print("Saved: 1d_slices.png")


def main():
    """
    Main execution pipeline demonstrating KAN visualization and interpretability.
    """
    print("\n" + "="*60)
    print("KAN VISUALIZATION AND INTERPRETABILITY DEMO")
    print("="*60)
    # 1. Generate data
    print("\n1. Generating training data...")
    X_train, y_train, x, y = generate_training_data(n_samples=1000)
    target_fn = create_target_function()
    print(f" Generated {len(X_train)} training samples")
    print(f" Target function: f(x,y) = sin(x) * exp(-y²)")
    # 2. Train KAN with visualization
    print("\n2. Training KAN with progressive grid refinement...")
    model = train_kan_with_visualization(X_train, y_train)
    # 3. Suggest symbolic forms
    print("\n3. Analyzing learned functions for symbolic patterns...")
    suggest_symbolic_forms(model)
    # 4. Visualize individual activations
    print("\n4. Visualizing individual activation functions...")
    visualize_individual_activations(model, layer_idx=0)
    # 5. Compare learned vs true
    print("\n5. Comparing learned function to true function...")
    compare_learned_vs_true(model, target_fn, resolution=100)
    # 6. Visualize 1D slices
    print("\n6. Analyzing 1D slices to understand input processing...")
    visualize_1d_slices(model, target_fn)
    print("\n" + "="*60)
    print("VISUALIZATION COMPLETE!")
    print("="*60)
    print("\nGenerated files:")
    print(" - kan_structure_grid*.png : Network structure at each grid size")
    print(" - kan_symbolic_final.png : Final network with symbolic forms")
    print(" - individual_activations_layer*.png : Detailed activation functions")
    print(" - function_comparison.png : True vs learned function comparison")
    print(" - 1d_slices.png : Input-output relationships for each variable")
    print("\nKey insights to look for:")
    print(" 1. Do the learned activations resemble sin(x) and exp(-y²)?")
    print(" 2. Which connections are strongest (least transparent)?")
    print(" 3. How does the network decompose the compositional structure?")
    print(" 4. Can symbolic forms be extracted from the learned splines?")


if __name__ == "__main__":
    # Check if kanlab is installed  (changed: the document checked for PyKAN)
    try:
        import kanlab
        print("kanlab found! Starting demo…")
    except ImportError:
        print("ERROR: kanlab not installed!")
        print("Please install with: pip install -e .  (or run: make demo)")
        exit(1)
    main()
