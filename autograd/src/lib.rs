//! `autograd`: a reverse-mode tape (Wengert list) over the ops of the `tensor` crate.
