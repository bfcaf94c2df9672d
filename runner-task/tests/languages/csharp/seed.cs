Console.WriteLine("passed arguments:");
foreach (var arg in args) {
    Console.WriteLine(arg);
}
await Task.Delay(1000);

for (var i = 0; i < 5; i++) {
    Console.WriteLine($"counter: {i}");
    await Task.Delay(100);
}
