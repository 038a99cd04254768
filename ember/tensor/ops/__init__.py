"""Op families: each module defines primitive ops with defop, their public functions and Tensor methods."""
