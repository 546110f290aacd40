"""Pure domain: slides, batches and their states, aspect ratios, prompts. No I/O here."""
