package main

import "github.com/berth-project/berth/internal/svc"

func main() { svc.Exec("agent", run) }
