//! `mart`: data sets, attacks, defenses, training and evaluation of robust models.
