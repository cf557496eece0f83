//! The `registryo` reference server and CLI.
fn main() {
    println!("registryo: the server arrives with the server issue");
}
