"""Binary classification with an efficient-KAN style model (mission document sample).

Run:  python examples/binary_classification.py           # the document's settings (10 epochs)
      python examples/binary_classification.py --quick   # 1 epoch on 300 samples (smoke test)

The document's loop uses a `dataloader` (and `nn`) it never defines; this script builds one from
a synthetic, standardized 10-feature two-class problem (sklearn's make_classification) and reports
test accuracy at the end. The `efficient_kan` import points at kanlab. Additions are marked "added:".
"""
import argparse  # added: command-line flags

from kanlab import KAN
import torch
import torch.nn as nn  # added: the sample uses nn without importing it
import torch.optim as optim
from sklearn.datasets import make_classification  # added: data for the sample's `dataloader`
from sklearn.model_selection import train_test_split  # added
from sklearn.preprocessing import StandardScaler  # added
from torch.utils.data import DataLoader, TensorDataset  # added


# added: a synthetic 10-feature, 2-class problem, standardized, as train/test DataLoaders
def make_loaders(n_samples, batch_size=64, seed=0):
    X, y = make_classification(n_samples=n_samples, n_features=10, n_informative=6,
                               n_redundant=2, n_classes=2, random_state=seed)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=seed)
    scaler = StandardScaler()
    X_train = scaler.fit_transform(X_train)
    X_test = scaler.transform(X_test)

    def loader(X, y, shuffle):
        data = TensorDataset(torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.int64))
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle)

    return loader(X_train, y_train, True), loader(X_test, y_test, False)


def main(quick=False):
    torch.manual_seed(0)  # added: reproducible initialisation and shuffling
    n_samples, epochs = (300, 1) if quick else (5000, 10)  # added: --quick settings
    dataloader, test_loader = make_loaders(n_samples)  # added

    # Define model: 10 inputs → 64 hidden → 32 hidden → 2 outputs
    model = KAN([10, 64, 32, 2])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)

    # Standard PyTorch training
    optimizer = optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()

    for epoch in range(epochs):
        for batch_x, batch_y in dataloader:
            optimizer.zero_grad()
            outputs = model(batch_x.to(device))
            loss = criterion(outputs, batch_y.to(device))
            loss.backward()
            optimizer.step()
        print(f"Epoch {epoch+1}, Loss: {loss.item():.4f}")  # added: progress

    # added: test accuracy
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for batch_x, batch_y in test_loader:
            predicted = model(batch_x.to(device)).argmax(dim=1)
            total += batch_y.size(0)
            correct += (predicted == batch_y.to(device)).sum().item()
    print(f"Test accuracy: {100 * correct / total:.2f}%")


if __name__ == "__main__":
    # added: command-line flags
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch on 300 samples (smoke test)")
    main(quick=parser.parse_args().quick)
