fn main() { panic!("boom"); }
