"""``slidebatch bench``: the seed's performance test run honestly against the physical bound."""
