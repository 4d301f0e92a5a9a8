"""Tests that cross the package: bad inputs through the public API, fuzzing the ops."""
