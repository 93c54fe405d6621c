module github.com/berth-project/berth/events

go 1.26.0
