"""GUI tests (a package, so its conftest and test modules never shadow the core tests' ones)."""
