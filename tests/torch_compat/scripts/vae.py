"""A variational autoencoder as pytorch/examples/vae writes it, on synthetic images.

The images are made with NumPy from ``--seed`` (no download): blurred random blobs in [0, 1].
``--init PATH`` makes two runs start from the same weights: the weights are loaded from PATH
when it exists, else the freshly initialised ones are saved there.
"""
import argparse
import os

import numpy as np
import torch
import torch.utils.data
from torch import nn, optim
from torch.nn import functional as F

parser = argparse.ArgumentParser(description='VAE Example')
parser.add_argument('--batch-size', type=int, default=32)
parser.add_argument('--epochs', type=int, default=3)
parser.add_argument('--train-size', type=int, default=128)
parser.add_argument('--side', type=int, default=14, help='images are side x side')
parser.add_argument('--hidden', type=int, default=64)
parser.add_argument('--latent', type=int, default=8)
parser.add_argument('--seed', type=int, default=1)
parser.add_argument('--log-interval', type=int, default=1)
parser.add_argument('--init', default=None)
args = parser.parse_args()
args.cuda = torch.cuda.is_available()

torch.manual_seed(0)

device = torch.device("cuda" if args.cuda else "cpu")
D = args.side * args.side


def synthetic_images(rng, n):
    """Random blobs: a few Gaussian bumps per image, values in [0, 1]."""
    grid = np.arange(args.side)
    images = np.zeros((n, 1, args.side, args.side))
    for _ in range(3):
        cy, cx = rng.uniform(0, args.side, size=(2, n, 1, 1, 1))
        images += np.exp(-((grid[:, None] - cy) ** 2 + (grid[None, :] - cx) ** 2) / 6.0)
    return torch.from_numpy(np.clip(images, 0, 1).astype(np.float32))


rng = np.random.default_rng(args.seed)
train_data = torch.utils.data.TensorDataset(synthetic_images(rng, args.train_size),
                                            torch.zeros(args.train_size, dtype=torch.long))
test_data = torch.utils.data.TensorDataset(synthetic_images(rng, 64), torch.zeros(64))
kwargs = {'num_workers': 1, 'pin_memory': True} if args.cuda else {}
train_loader = torch.utils.data.DataLoader(train_data, batch_size=args.batch_size, shuffle=False,
                                           **kwargs)
test_loader = torch.utils.data.DataLoader(test_data, batch_size=args.batch_size, shuffle=False,
                                          **kwargs)


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()

        self.fc1 = nn.Linear(D, args.hidden)
        self.fc21 = nn.Linear(args.hidden, args.latent)
        self.fc22 = nn.Linear(args.hidden, args.latent)
        self.fc3 = nn.Linear(args.latent, args.hidden)
        self.fc4 = nn.Linear(args.hidden, D)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5*logvar)
        eps = torch.randn_like(std)
        return mu + eps*std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, D))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


model = VAE().to(device)
if args.init and os.path.exists(args.init):
    saved = np.load(args.init)
    model.load_state_dict({k: torch.from_numpy(saved[k]) for k in saved.files})
elif args.init:
    np.savez(args.init, **{k: v.cpu().numpy() for k, v in model.state_dict().items()})
optimizer = optim.Adam(model.parameters(), lr=1e-2)


# Reconstruction + KL divergence losses summed over all elements and batch
def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, D), reduction='sum')

    # see Appendix B from VAE paper:
    # Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014
    # https://arxiv.org/abs/1312.6114
    # 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

    return BCE + KLD


def train(epoch):
    model.train()
    train_loss = 0
    for batch_idx, (data, _) in enumerate(train_loader):
        data = data.to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader),
                loss.item() / len(data)))

    print('====> Epoch: {} Average loss: {:.4f}'.format(
          epoch, train_loss / len(train_loader.dataset)))


def test(epoch):
    model.eval()
    test_loss = 0
    with torch.no_grad():
        for i, (data, _) in enumerate(test_loader):
            data = data.to(device)
            recon_batch, mu, logvar = model(data)
            test_loss += loss_function(recon_batch, data, mu, logvar).item()
            if i == 0:
                n = min(data.size(0), 8)
                comparison = torch.cat([data[:n],
                                      recon_batch.view(args.batch_size, 1, args.side, args.side)[:n]])
                assert comparison.shape == (2 * n, 1, args.side, args.side)

    test_loss /= len(test_loader.dataset)
    print('====> Test set loss: {:.4f}'.format(test_loss))


if __name__ == "__main__":
    for epoch in range(1, args.epochs + 1):
        train(epoch)
        test(epoch)
        with torch.no_grad():
            sample = torch.randn(64, args.latent).to(device)
            sample = model.decode(sample).cpu()
            assert sample.view(64, 1, args.side, args.side).shape == (64, 1, args.side, args.side)
