"""One module per stream processor: decode → validate → compute (pure) → emit."""
