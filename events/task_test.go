package events

import "testing"

func TestTaskStatusRank_Order(t *testing.T) {
	order := []string{TaskProvisioning, TaskPending, TaskActivating, TaskRunning, TaskDeactivating, TaskStopping, TaskDeprovisioning, TaskStopped}
	for i, s := range order {
		if TaskStatusRank(s) != i+1 {
			t.Fatalf("%s ranks %d", s, TaskStatusRank(s))
		}
	}
	if TaskStatusRank("DELETED") != 0 || ContainerStatusRank(ContainerRunning) <= ContainerStatusRank(ContainerPending) {
		t.Fatal("ranks")
	}
}

func TestStateKeys(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	for got, want := range map[string]string{
		InstanceKey("prod", id):   "inst.prod." + id,
		TaskKey("prod", id):       "task.prod." + id,
		InstanceFilter("a.b"):     "inst." + Token("a.b") + ".*",
		TaskFilter("prod"):        "task.prod.*",
		ECSEventMsgID("arn:x", 7): "arn:x#7",
	} {
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}
