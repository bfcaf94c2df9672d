package main

func main() {
	var keep [][]byte
	for {
		b := make([]byte, 1<<20)
		// One write per page makes it resident; a write per byte would
		// spend a second of CPU before the memory limit on a busy host.
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
	}
}
