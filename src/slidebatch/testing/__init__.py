"""Test doubles shipped with the package: the fake upstream and the fake clock."""
