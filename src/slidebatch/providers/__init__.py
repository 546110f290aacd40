"""Image upstreams behind one Protocol: one module per upstream, ``base.py`` holds the contract."""
