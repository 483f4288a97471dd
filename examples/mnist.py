"""MNIST classification with an efficient-KAN style model (mission document sample).

Run:  python examples/mnist.py           # the document's settings: 10 epochs, batch 64
      python examples/mnist.py --quick   # 1 epoch on 640 training / 320 test images (smoke test)
      python examples/mnist.py --data /path/to/data   # folder holding mnist/*.gz

torchvision is not used: the images come from kanlab.load_mnist (the folder given by --data, the
KANLAB_DATA environment variable, or ../shared/data; it never downloads), normalized as the
document's transforms.Normalize((0.5,), (0.5,)). The `efficient_kan` import points at kanlab.
Additions are marked "added:".
"""
import argparse  # added: command-line flags
import sys  # added

from kanlab import KAN
from kanlab import load_mnist  # added: replaces torchvision.datasets.MNIST
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader
from torch.utils.data import TensorDataset  # added


def main(quick=False, data=None):
    # Load MNIST
    # added: load_mnist instead of torchvision; images float32 (n, 28, 28) in [0, 1], labels int64
    try:
        train_x, train_y, test_x, test_y = load_mnist(data)
    except FileNotFoundError as exc:
        sys.exit(f"MNIST not found: {exc}")
    if quick:  # added: --quick uses a few batches only
        train_x, train_y, test_x, test_y = train_x[:640], train_y[:640], test_x[:320], test_y[:320]
    epochs = 1 if quick else 10  # added

    train_x = (train_x - 0.5) / 0.5  # added: as Normalize((0.5,), (0.5,))
    test_x = (test_x - 0.5) / 0.5  # added

    trainset = TensorDataset(train_x, train_y)  # added
    trainloader = DataLoader(trainset, batch_size=64, shuffle=True)

    testset = TensorDataset(test_x, test_y)  # added
    testloader = DataLoader(testset, batch_size=64, shuffle=False)

    # Define KAN: 784 inputs (28x28) → 64 hidden → 10 outputs
    model = KAN([28 * 28, 64, 10])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)

    # Optimizer and loss
    optimizer = optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    scheduler = optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.8)
    criterion = nn.CrossEntropyLoss()

    # Training loop
    for epoch in range(epochs):
        model.train()
        for batch_x, batch_y in trainloader:
            batch_x = batch_x.view(-1, 28*28).to(device)  # Flatten images
            batch_y = batch_y.to(device)

            optimizer.zero_grad()
            outputs = model(batch_x)
            loss = criterion(outputs, batch_y)
            loss.backward()
            optimizer.step()

        scheduler.step()

        # Evaluation
        model.eval()
        correct = 0
        total = 0
        with torch.no_grad():
            for batch_x, batch_y in testloader:
                batch_x = batch_x.view(-1, 28*28).to(device)
                batch_y = batch_y.to(device)
                outputs = model(batch_x)
                _, predicted = torch.max(outputs.data, 1)
                total += batch_y.size(0)
                correct += (predicted == batch_y).sum().item()

        accuracy = 100 * correct / total
        print(f"Epoch {epoch+1}, Accuracy: {accuracy:.2f}%")


if __name__ == "__main__":
    # added: command-line flags
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch on a few batches (smoke test)")
    parser.add_argument("--data", default=None, help="data folder holding mnist/ (default: KANLAB_DATA or ../shared/data)")
    args = parser.parse_args()
    main(quick=args.quick, data=args.data)
