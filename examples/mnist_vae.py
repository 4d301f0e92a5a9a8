"""PyTorch's reference VAE on MNIST (784-400-20, Adam 1e-3, batch 128): test loss per sample
after each epoch, reconstructions, samples from N(0, I), and with ``--latent 2`` the decoded
latent grid.

    python examples/mnist_vae.py --epochs 10 --data data/mnist --out runs/mnist-vae
    python examples/mnist_vae.py --epochs 10 --latent 2 --out runs/mnist-vae-2d
"""
import argparse
import os

import xpnet
from xpnet import models, optim
from xpnet.data import MNIST, DataLoader

parser = argparse.ArgumentParser()
parser.add_argument("--device", default=None)
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--latent", type=int, default=20)
parser.add_argument("--data", default="data/mnist", help="folder with the four MNIST files")
parser.add_argument("--out", default="runs/mnist-vae")
parser.add_argument("--seed", type=int, default=1)
args = parser.parse_args()
device = xpnet.device(args.device).name
os.makedirs(args.out, exist_ok=True)

xpnet.manual_seed(args.seed)
train = DataLoader(MNIST(args.data, train=True), batch_size=128, shuffle=True, seed=args.seed,
                   device=device)
test = DataLoader(MNIST(args.data, train=False), batch_size=1000, device=device)
model = models.VAE(latent_size=args.latent, device=device)
optimizer = optim.Adam(model.parameters(), lr=1e-3)

history = xpnet.fit(model, models.InputsAsTargets(train), loss=models.VAELoss(),
                    optimizer=optimizer, epochs=args.epochs, val=models.InputsAsTargets(test),
                    metrics=(), callbacks=[xpnet.train.LambdaCallback(
                        on_epoch_end=lambda epoch, logs: print(
                            f"epoch {epoch}: train loss {logs['loss']:.2f}, test loss "
                            f"{logs['val_loss']:.2f} per sample ({logs['time']:.1f}s)",
                            flush=True))], verbose=0)
history.save(os.path.join(args.out, "history.json"))
xpnet.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "epoch": args.epochs, "rng": xpnet.get_rng_state()},
           os.path.join(args.out, "checkpoint.npz"))

model.eval()
with xpnet.no_grad():
    x = next(iter(test))[0][:8]
    reconstruction = model(x)[0].numpy().reshape(-1, 1, 28, 28)
    samples = model.decode(xpnet.randn(64, args.latent, device=device)).numpy()
pairs = [image for k in range(8) for image in (x.numpy()[k], reconstruction[k])]
models.save_image_grid(pairs, os.path.join(args.out, "reconstructions.png"), nrow=4,
                       title="test digits and their reconstructions")
models.save_image_grid(samples.reshape(-1, 1, 28, 28), os.path.join(args.out, "samples.png"),
                       nrow=8, title=f"decoded z ~ N(0, I), epoch {args.epochs}")
if args.latent == 2:
    models.save_image_grid(models.latent_grid(model, 20),
                           os.path.join(args.out, "latent_grid.png"), nrow=20,
                           title="the 2-D latent space, decoded")
print(f"wrote {args.out}: history.json, checkpoint.npz, reconstructions.png, samples.png"
      + (", latent_grid.png" if args.latent == 2 else ""))
