import gzip
import hashlib
import struct
import urllib.error

import numpy as np
import pytest

from xpnet.data import MNIST, DataLoader, mnist_rows, read_idx_images, read_idx_labels
from xpnet.data import mnist as mnist_module


def idx_bytes(n=6, seed=0, magic_images=2051, magic_labels=2049, n_labels=None):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, n if n_labels is None else n_labels).astype(np.uint8)
    return (struct.pack(">IIII", magic_images, n, 28, 28) + images.tobytes(),
            struct.pack(">II", magic_labels, len(labels)) + labels.tobytes(), images, labels)


def write_split(folder, prefix="train", gz=True, **kwargs):
    folder.mkdir(parents=True, exist_ok=True)
    image_bytes, label_bytes, images, labels = idx_bytes(**kwargs)
    for kind, data in (("images-idx3", image_bytes), ("labels-idx1", label_bytes)):
        name = f"{prefix}-{kind}-ubyte"
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return images, labels


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real cache, no $XPNET_DATA, no repository data/ folder (the working directory is a
    fresh one), and no network unless a test installs a downloader."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("XPNET_DATA", raising=False)

    def offline(url, dest):
        raise urllib.error.URLError("network is unreachable")
    monkeypatch.setattr(mnist_module, "_download", offline)


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_mnist_reads_idx_files_scaled_to_unit_interval(tmp_path, gz):
    images, labels = write_split(tmp_path / "data", gz=gz)
    ds = MNIST(root=tmp_path / "data")
    assert ds.images.shape == (6, 1, 28, 28) and ds.images.dtype == np.float32
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == labels.tolist()
    np.testing.assert_allclose(ds.images[:, 0], images / 255.0, rtol=1e-6)
    assert len(ds) == 6 and len(ds.classes) == 10 and ds.arrays[0] is ds.images


def test_normalize_applies_the_usual_mean_and_std(tmp_path):
    images, _ = write_split(tmp_path, prefix="t10k")
    ds = MNIST(root=tmp_path, train=False, normalize=True)
    np.testing.assert_allclose(ds.images[:, 0], (images / 255.0 - 0.1307) / 0.3081, rtol=1e-5,
                               atol=1e-6)


def test_mnist_rows_are_28_step_sequences(tmp_path):
    images, _ = write_split(tmp_path)
    ds = mnist_rows(root=tmp_path)
    assert ds.images.shape == (6, 28, 28)
    np.testing.assert_allclose(ds.images, images / 255.0, rtol=1e-6)


def test_mnist_lands_on_the_device_through_the_loader(tmp_path, device):
    write_split(tmp_path)
    x, y = next(iter(DataLoader(MNIST(root=tmp_path), batch_size=4, device=device)))
    assert x.shape == (4, 1, 28, 28) and x.device == device and y.device == device


def test_a_truncated_file_is_named_in_the_error(tmp_path):
    write_split(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte is truncated: the header "
                                         r"announces 6 images"):
        MNIST(root=tmp_path)
    path.write_bytes(b"\x00\x00\x08")
    with pytest.raises(ValueError, match="is truncated: the IDX header needs 16 bytes, got 3"):
        read_idx_images(path)


def test_a_truncated_gzip_file_is_a_clear_error(tmp_path):
    write_split(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz is truncated or not a "
                                         "valid gzip file"):
        MNIST(root=tmp_path)


def test_a_wrong_magic_number_is_a_clear_error(tmp_path):
    write_split(tmp_path, gz=False, magic_images=2049)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte has magic number 2049, "
                                         r"expected 2051 \(an IDX image file\)"):
        MNIST(root=tmp_path)
    write_split(tmp_path, gz=False, magic_labels=2051)
    with pytest.raises(ValueError, match="has magic number 2051, expected 2049"):
        read_idx_labels(tmp_path / "train-labels-idx1-ubyte")


def test_images_and_labels_counts_must_match(tmp_path):
    write_split(tmp_path, n=6, n_labels=5)
    with pytest.raises(ValueError, match="holds 6 images but .*train-labels-idx1-ubyte.gz holds "
                                         "5 labels"):
        MNIST(root=tmp_path)


def test_extra_bytes_and_bad_labels_are_refused(tmp_path):
    write_split(tmp_path, gz=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes() + b"\x01")
    with pytest.raises(ValueError, match="has 1 bytes more than its header announces"):
        read_idx_labels(path)
    path.write_bytes(struct.pack(">II", 2049, 2) + bytes([3, 12]))
    with pytest.raises(ValueError, match="holds label 12; MNIST labels must be 0..9"):
        read_idx_labels(path)


def test_lookup_order_is_root_then_data_here_then_xpnet_data_then_cache(tmp_path, monkeypatch):
    root, data, cache = tmp_path / "root", tmp_path / "env", tmp_path / "cache" / "xpnet"
    write_split(root, n=2)
    write_split(tmp_path / "data" / "mnist", n=5)        # ./data/mnist, as the repository ships it
    write_split(data / "mnist", n=3)
    write_split(cache / "mnist", n=4)
    monkeypatch.setattr(mnist_module, "_check_md5", lambda path, what: None)  # test files
    monkeypatch.setenv("XPNET_DATA", str(data))
    assert len(MNIST(root=root)) == 2
    assert len(MNIST(root=tmp_path / "empty")) == 5
    (tmp_path / "data").rename(tmp_path / "moved")
    assert len(MNIST()) == 3
    monkeypatch.delenv("XPNET_DATA")
    ds = MNIST()
    assert len(ds) == 4 and ds.folder == cache / "mnist"


def test_the_cache_defaults_to_home_dot_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mnist_module.cache_folder() == tmp_path / "home" / ".cache" / "xpnet" / "mnist"


def test_without_a_network_the_error_lists_the_folders_and_where_to_put_the_files(tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setenv("XPNET_DATA", str(tmp_path / "env"))
    with pytest.raises(RuntimeError) as info:
        MNIST(root=tmp_path / "mine")
    message = str(info.value)
    assert "downloading it failed" in message and "network is unreachable" in message
    for folder in (tmp_path / "mine", "data/mnist", tmp_path / "env" / "mnist", tmp_path / "cache"):
        assert str(folder) in message
    assert "put the four files (train-images-idx3-ubyte.gz" in message
    assert not list((tmp_path / "cache" / "xpnet" / "mnist").iterdir())  # no partial files


def test_download_false_never_touches_the_network(tmp_path):
    with pytest.raises(FileNotFoundError, match="were not found in .*download=False"):
        MNIST(root=tmp_path, download=False)


def _serve(monkeypatch, payloads, urls=None):
    def fake(url, dest):
        if urls is not None:
            urls.append(url)
        dest.write_bytes(payloads[url.rsplit("/", 1)[1]])
    monkeypatch.setattr(mnist_module, "_download", fake)


def test_a_download_with_a_wrong_md5_is_refused_and_discarded(tmp_path, monkeypatch):
    image_bytes, label_bytes, _, _ = idx_bytes()
    payload = {"train-images-idx3-ubyte.gz": gzip.compress(image_bytes),
               "train-labels-idx1-ubyte.gz": gzip.compress(label_bytes)}
    urls = []
    _serve(monkeypatch, payload, urls)
    found = hashlib.md5(payload["train-images-idx3-ubyte.gz"]).hexdigest()
    with pytest.raises(ValueError, match=f"MNIST: train-images-idx3-ubyte.gz from .* has MD5 "
                                         f"{found}, expected f68b3c2dcbeaaa9fbdd348bbdeb94873; "
                                         f"the download is corrupt"):
        MNIST()
    assert len(urls) == 2  # every mirror was tried
    assert not list((tmp_path / "cache" / "xpnet" / "mnist").iterdir())


def test_a_corrupt_file_in_the_cache_fails_its_md5_check(tmp_path):
    write_split(tmp_path / "cache" / "xpnet" / "mnist")
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz has MD5 [0-9a-f]{32}, "
                                         r"expected f68b3c2d.*delete it and retry"):
        MNIST()


def test_a_download_with_the_published_md5_lands_in_the_cache(tmp_path, monkeypatch):
    image_bytes, label_bytes, images, labels = idx_bytes(n=3)
    payload = {"t10k-images-idx3-ubyte.gz": gzip.compress(image_bytes),
               "t10k-labels-idx1-ubyte.gz": gzip.compress(label_bytes)}
    for name, data in payload.items():
        monkeypatch.setitem(mnist_module._MD5, name, hashlib.md5(data).hexdigest())
    urls = []
    _serve(monkeypatch, payload, urls)
    ds = MNIST(train=False)
    assert ds.labels.tolist() == labels.tolist()
    assert urls[0].startswith("https://ossci-datasets.s3.amazonaws.com/mnist/")
    cache = tmp_path / "cache" / "xpnet" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(payload)
    MNIST(train=False)  # found in the cache now: no second download
    assert len(urls) == 2



def test_the_repository_ships_the_genuine_files_with_their_published_md5s():
    import pathlib
    folder = pathlib.Path(__file__).resolve().parents[2] / "data" / "mnist"
    for name, md5 in mnist_module._MD5.items():
        assert mnist_module._md5(folder / name) == md5, name
    assert "CC BY-SA 3.0" in (folder / "SOURCE.md").read_text()
