package scheduler

// fargateMemory lists, per Fargate task cpu value, the valid memory sizes
// (MiB): min, max and step (AWS's table of task sizes). 256 CPU is the
// irregular case: 512, 1024 or 2048.
var fargateMemory = map[int64][3]int64{
	256:   {512, 2048, 0},
	512:   {1024, 4096, 1024},
	1024:  {2048, 8192, 1024},
	2048:  {4096, 16384, 1024},
	4096:  {8192, 30720, 1024},
	8192:  {16384, 61440, 4096},
	16384: {32768, 122880, 8192},
}

// FargateTaskSize reports whether task cpu (units) and memory (MiB) are one
// of Fargate's task sizes.
func FargateTaskSize(cpu, mem int64) bool {
	r, ok := fargateMemory[cpu]
	if !ok {
		return false
	}
	if r[2] == 0 {
		return mem == 512 || mem == 1024 || mem == 2048
	}
	return mem >= r[0] && mem <= r[1] && (mem-r[0])%r[2] == 0
}
