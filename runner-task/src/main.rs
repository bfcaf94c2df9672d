fn main() {
    let sb = runner_task::sandbox::Sandbox::new(Default::default()).unwrap();
    eprintln!("{:?} {:?}", sb.profile(), sb.layers());
    let mut cmd = runner_task::sandbox::Command::new("/bin/echo", Default::default());
    cmd.args = vec!["hello".into()];
    cmd.binds = vec![runner_task::sandbox::Bind::same("/usr")];
    let t = std::time::Instant::now();
    let o = sb.run(cmd).unwrap();
    eprintln!("{:?} {:?}", t.elapsed(), o);
    eprintln!("{}", String::from_utf8_lossy(&o.stdout));
}
