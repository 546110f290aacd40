"""Slides through the upstream as fast as its limits allow: gate, AIMD, fairness, retries."""
