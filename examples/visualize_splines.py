"""Visualizing learned spline functions (mission document sample): fit f(x, y) = sin(x) * exp(-y).

Run:  python examples/visualize_splines.py           # the document's settings
      python examples/visualize_splines.py --quick   # 5 LBFGS steps per grid (smoke test)

Writes PNGs to the current directory. Changes from the document: `kan` imports point at kanlab,
matplotlib uses the Agg backend and plt.show() became plt.close(), the code sits in main()
behind argparse, and the edge indexing follows kanlab's act_fun[layer][out][in] (the document
indexed [in][out] here but [out][:, in] in its other script). Changes are marked "added:"/"changed:".
"""
import argparse  # added: command-line flags

import matplotlib  # added: render to files, no display needed
matplotlib.use("Agg")  # added

import torch
import numpy as np
import matplotlib.pyplot as plt
from kanlab import KAN


# Create a simple compositional function: f(x,y) = sin(x) * exp(-y)
def target_function(x, y):
    return torch.sin(x) * torch.exp(-y)


def main(quick=False):
    # added: --quick trains 5 LBFGS steps per grid (and per fine-tune) instead of 100 (and 50)
    steps, finetune_steps = (5, 5) if quick else (100, 50)

    # Generate training data
    n_samples = 1000
    x = torch.rand(n_samples, 1) * 2 * np.pi - np.pi  # [-π, π]
    y = torch.rand(n_samples, 1) * 2 - 1  # [-1, 1]
    X_train = torch.cat([x, y], dim=1)
    y_train = target_function(x, y)

    # Create dataset for PyKAN
    dataset = {
        'train_input': X_train,
        'train_label': y_train
    }

    # Initialize KAN: 2 inputs -> 3 hidden -> 1 output
    model = KAN([2, 3, 1], grid=5, k=3, seed=0)
    model.speed()  # Critical for performance

    # Train with progressive grid refinement
    print("Training KAN...")
    for grid_size in [5, 10, 20]:
        print(f"\nGrid size: {grid_size}")
        model.fit(dataset, opt="LBFGS", steps=steps, lamb=0.01)
        if grid_size < 20:
            model.refine(grid_factor=2)

    # === THE KEY VISUALIZATION COMMAND ===
    model.plot(beta=10)  # Beta controls transparency (higher = more transparent for weak connections)
    plt.savefig('kan_visualization.png', dpi=150, bbox_inches='tight')
    plt.close()  # added

    # --- Deeper Visualization: Individual Activation Functions ---
    # Visualize specific activation functions
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    axes = axes.flatten()

    # Get the model's activations
    # Layer 0->1 (input to hidden)
    for i in range(min(6, len(model.act_fun[0].submodules))):
        ax = axes[i]

        # Sample points to evaluate the learned function
        x_range = torch.linspace(-1, 1, 200).unsqueeze(1)

        # Get the activation function for this edge
        # model.act_fun[layer_idx] contains the activation functions
        with torch.no_grad():
            # Evaluate the learned spline
            # changed: act_fun[layer][out][in] (was [in][out])
            y_vals = model.act_fun[0][i % model.width[1]][i // model.width[1]](x_range)

        ax.plot(x_range.numpy(), y_vals.numpy(), linewidth=2)
        ax.set_title(f'Input {i//3} → Hidden {i%3}')
        ax.set_xlabel('Input value')
        ax.set_ylabel('Activation output')
        ax.grid(True, alpha=0.3)

    plt.tight_layout()
    plt.savefig('individual_activations.png', dpi=150)
    plt.close()  # added: was plt.show()

    # --- Symbolic Analysis: What Did It Learn? ---
    # Suggest symbolic forms for the learned functions
    print("\nSuggesting symbolic forms...")
    model.suggest_symbolic(
        lib=['x', 'x^2', 'x^3', 'x^4',
             '1/x', '1/x^2',
             'sqrt', 'x^0.5',
             'sin', 'cos', 'tan',
             'exp', 'log',
             'abs', 'sgn',
             'arcsin', 'arccos', 'arctan']
    )

    # The output will show something like:
    # "Layer 0->1, neuron 0: best match is 'sin' with R²=0.98"
    # "Layer 0->1, neuron 1: best match is 'exp' with R²=0.95"

    # Actually replace splines with discovered symbolic functions
    model.auto_symbolic(lib=['x', 'x^2', 'sin', 'cos', 'exp', 'log'])

    # Fine-tune after symbolic substitution
    model.fit(dataset, opt="LBFGS", steps=finetune_steps, lamb=0.0)

    # Visualize again to see clean symbolic forms
    model.plot(beta=10)
    plt.close()  # added

    # --- Practical Interpretation Example ---
    # After training, you might see:
    # - Input x (index 0) → Hidden neuron 0: learns sin(x)
    # - Input y (index 1) → Hidden neuron 1: learns exp(-y) or exp(y)
    # - Hidden neurons → Output: learns multiplication

    # Compare original vs learned
    x_test = torch.linspace(-np.pi, np.pi, 100).unsqueeze(1)
    y_test = torch.linspace(-1, 1, 100).unsqueeze(1)
    X, Y = torch.meshgrid(x_test.squeeze(), y_test.squeeze(), indexing='ij')
    X_flat = X.flatten().unsqueeze(1)
    Y_flat = Y.flatten().unsqueeze(1)
    XY_test = torch.cat([X_flat, Y_flat], dim=1)

    with torch.no_grad():
        Z_true = target_function(X_flat, Y_flat).reshape(100, 100)
        Z_pred = model(XY_test).reshape(100, 100)

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))

    im1 = axes[0].contourf(X.numpy(), Y.numpy(), Z_true.numpy(), levels=20, cmap='viridis')
    axes[0].set_title('True Function: sin(x) * exp(-y)')
    axes[0].set_xlabel('x')
    axes[0].set_ylabel('y')
    plt.colorbar(im1, ax=axes[0])

    im2 = axes[1].contourf(X.numpy(), Y.numpy(), Z_pred.numpy(), levels=20, cmap='viridis')
    axes[1].set_title('KAN Learned Function')
    axes[1].set_xlabel('x')
    axes[1].set_ylabel('y')
    plt.colorbar(im2, ax=axes[1])

    error = (Z_true - Z_pred).abs()
    im3 = axes[2].contourf(X.numpy(), Y.numpy(), error.numpy(), levels=20, cmap='Reds')
    axes[2].set_title('Absolute Error')
    axes[2].set_xlabel('x')
    axes[2].set_ylabel('y')
    plt.colorbar(im3, ax=axes[2])

    plt.tight_layout()
    plt.savefig('function_comparison.png', dpi=150)
    plt.close()  # added


if __name__ == "__main__":
    # added: command-line flags
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 LBFGS steps per grid (smoke test)")
    main(quick=parser.parse_args().quick)
