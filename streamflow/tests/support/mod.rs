pub mod tansu;
