//! `nn`: layers, models, optimisers, schedules and checkpoints, built on `autograd`.
