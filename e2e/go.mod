module github.com/berth-project/berth/e2e

go 1.26.0
