"""Test support: machinery the tests need and the product must not ship."""
