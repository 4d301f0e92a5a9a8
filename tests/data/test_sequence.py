import numpy as np
import pytest

import xpnet
from xpnet.data import (ArrayDataset, CharDataset, DataLoader, adding_problem, copy_memory,
                        digit_sequences)


def test_adding_problem_has_two_markers_one_per_half_and_y_is_their_sum():
    X, y = adding_problem(64, seq_len=20, seed=0)
    assert X.shape == (64, 20, 2) and y.shape == (64, 1)
    assert X.dtype == np.float32 and y.dtype == np.float32
    markers = X[:, :, 1]
    assert set(np.unique(markers).tolist()) == {0.0, 1.0}
    assert (markers[:, :10].sum(axis=1) == 1).all() and (markers[:, 10:].sum(axis=1) == 1).all()
    assert ((X[:, :, 0] >= 0) & (X[:, :, 0] < 1)).all()
    np.testing.assert_array_equal(y[:, 0], (X[:, :, 0] * markers).sum(axis=1))


def test_adding_problem_is_seeded():
    a, b = adding_problem(8, 10, seed=3), adding_problem(8, 10, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], adding_problem(8, 10, seed=4)[0])


def test_adding_problem_rejects_a_too_short_sequence():
    with pytest.raises(ValueError, match="seq_len must be an int >= 2, got 1"):
        adding_problem(4, seq_len=1)


def test_copy_memory_inputs_and_targets_follow_arjovsky_et_al():
    X, y = copy_memory(16, delay=7, n_symbols=8, copy_len=4, seed=0)
    assert X.shape == y.shape == (16, 7 + 2 * 4) and X.dtype == y.dtype == np.int64
    symbols = X[:, :4]
    assert ((symbols >= 1) & (symbols <= 8)).all()
    assert (X[:, 4:4 + 6] == 0).all()              # delay - 1 blanks
    assert (X[:, 4 + 6] == 9).all()                # the delimiter
    assert (X[:, -4:] == 0).all()
    assert (y[:, :-4] == 0).all()
    np.testing.assert_array_equal(y[:, -4:], symbols)


def test_char_dataset_windows_predict_the_next_character():
    ds = CharDataset("hello world!", seq_len=4)
    assert ds.chars == sorted(set("hello world!")) and ds.vocab_size == 9
    assert len(ds) == 2  # non-overlapping windows of 4 + 1
    x, t = ds[0]
    assert ds.decode(x) == "hell" and ds.decode(t) == "ello"
    assert ds.decode(ds[1][0]) == "o wo"
    assert x.dtype == np.int64 and x.shape == (4,)


def test_char_dataset_encode_decode_round_trip_and_stride(tmp_path):
    text = "the quick brown fox jumps over the lazy dog\n" * 3
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    ds = CharDataset(path, seq_len=10, stride=1)
    assert ds.decode(ds.encode(text)) == text
    assert len(ds) == len(text) - 10
    assert CharDataset(str(path), seq_len=10).text == text
    assert ds.stoi[ds.itos[3]] == 3
    with pytest.raises(ValueError, match=r"character 'Z' is not in the vocabulary"):
        ds.encode("Z")


def test_char_dataset_rejects_a_text_shorter_than_a_window():
    with pytest.raises(ValueError, match=r"at least seq_len \+ 1 = 6 characters, got 3"):
        CharDataset("abc", seq_len=5)


def test_sequence_tasks_load_onto_the_device(device):
    ds = CharDataset("abcdefghij" * 5, seq_len=8)
    x, t = next(iter(DataLoader(ds, batch_size=3, device=device)))
    assert x.device == device and x.shape == (3, 8)
    assert ds.decode(x.numpy()[0]) == "abcdefgh" and ds.decode(t)[:7] == "bcdefgh"
    X, y = adding_problem(10, 6, seed=0)
    xb, yb = next(iter(DataLoader(ArrayDataset(X, y), batch_size=10, device=device)))
    np.testing.assert_array_equal(xb.numpy(), X)
    assert yb.shape == (10, 1)


def _digits(row):
    """The digits of a padded row (ids 3..12), up to the first special token."""
    out = []
    for token in row:
        if token < 3:
            break
        out.append(int(token) - 3)
    return out


@pytest.mark.parametrize("task", ["reverse", "sort"])
def test_digit_sequences_targets_are_the_reversed_or_sorted_digits_between_bos_and_eos(task):
    src, tgt = digit_sequences(200, min_len=2, max_len=7, task=task, seed=0)
    assert src.shape == (200, 7) and tgt.shape == (200, 9)
    assert src.dtype == tgt.dtype == np.int64
    lengths = (src > 0).sum(axis=1)
    assert lengths.min() == 2 and lengths.max() == 7
    for s, t, n in zip(src, tgt, lengths):
        digits = _digits(s)
        assert len(digits) == n and (s[n:] == 0).all()          # padding only after the end
        expected = digits[::-1] if task == "reverse" else sorted(digits)
        assert t[0] == 1 and _digits(t[1:]) == expected and t[n + 1] == 2
        assert (t[n + 2:] == 0).all()


def test_digit_sequences_are_seeded_and_reject_bad_arguments():
    np.testing.assert_array_equal(digit_sequences(5, seed=1)[0], digit_sequences(5, seed=1)[0])
    assert not np.array_equal(digit_sequences(5, seed=1)[0], digit_sequences(5, seed=2)[0])
    with pytest.raises(ValueError, match=r"^digit_sequences: max_len must be an int >= 4, got 3$"):
        digit_sequences(5, min_len=4, max_len=3)
    with pytest.raises(ValueError, match=r"^digit_sequences: task must be 'reverse' or 'sort', "
                       r"got 'copy'$"):
        digit_sequences(5, task="copy")
