"""Tracing into a static graph IR, its passes and code generators (issues: JIT front end, LLVM backend).

This package is a placeholder in the layer map; it gains its contents with that issue."""
