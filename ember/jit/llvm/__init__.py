"""The LLVM CPU backend: traced graphs compiled to host machine code with llvmlite."""
