"""Report: what people look at (terminal tables now; HTML and web later)."""
