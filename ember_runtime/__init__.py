"""ember_runtime: load and run compiled ember artifacts with numpy and llvmlite only (it never imports ember).

Today it holds the CPU engine (``ember_runtime.cpu``): LLVM IR compiled for the host with a per-user object
cache. The artifact reader and the model loader come with the artifact issue.
"""
