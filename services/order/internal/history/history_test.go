package history

import (
	"testing"

	"github.com/anishathalye/porcupine"
)

func op(client int, key, body string, call, ret int64, out Output) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: Input{Key: key, Body: body}, Call: call, Output: out, Return: ret}
}

// TestModel checks the model on small histories, each answer's interval given.
func TestModel(t *testing.T) {
	placedX := Output{Kind: Placed, OrderID: "o-x"}
	placedY := Output{Kind: Placed, OrderID: "o-y"}
	reused := Output{Kind: KeyReused}
	refusedX := Output{Kind: Refused, Code: "OUT_OF_STOCK", OrderID: "o-x"}
	unknown := Output{Kind: Unknown, Code: "UNAVAILABLE"}
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		ok   bool
	}{
		{"placed then replayed", []porcupine.Operation{op(0, "k", "a", 0, 1, placedX), op(1, "k", "a", 2, 3, placedX)}, true},
		{"replay answers another order", []porcupine.Operation{op(0, "k", "a", 0, 1, placedX), op(1, "k", "a", 2, 3, placedY)}, false},
		{"refusal replayed", []porcupine.Operation{op(0, "k", "a", 0, 1, refusedX), op(1, "k", "a", 2, 3, refusedX)}, true},
		{"refusal replayed as 201", []porcupine.Operation{op(0, "k", "a", 0, 1, refusedX), op(1, "k", "a", 2, 3, placedX)}, false},
		{"another body after", []porcupine.Operation{op(0, "k", "a", 0, 1, placedX), op(1, "k", "b", 2, 3, reused)}, true},
		{"another body placed after", []porcupine.Operation{op(0, "k", "a", 0, 1, placedX), op(1, "k", "b", 2, 3, placedY)}, false},
		{"reuse of a free key", []porcupine.Operation{op(0, "k", "b", 0, 1, reused), op(1, "k", "a", 2, 3, placedX)}, false},
		{"concurrent bodies, one wins", []porcupine.Operation{op(0, "k", "a", 0, 3, placedX), op(1, "k", "b", 1, 2, reused)}, true},
		{"concurrent bodies, both 201 (the old bug)", []porcupine.Operation{op(0, "k", "a", 0, 3, placedX), op(1, "k", "b", 1, 2, placedX)}, false},
		{"unknown claims the key", []porcupine.Operation{op(0, "k", "a", 0, 1, unknown), op(1, "k", "b", 2, 3, reused), op(2, "k", "a", 4, 5, placedX)}, true},
		{"unknown did nothing", []porcupine.Operation{op(0, "k", "a", 0, 1, unknown), op(1, "k", "b", 2, 3, placedY)}, true},
		{"hung up, took effect after", []porcupine.Operation{op(0, "k", "a", 0, Infinity, Output{Kind: Unknown}), op(1, "k", "b", 2, 3, reused)}, true},
		{"unknown cannot justify two outcomes", []porcupine.Operation{op(0, "k", "a", 0, 1, unknown), op(1, "k", "a", 2, 3, placedX), op(2, "k", "a", 4, 5, placedY)}, false},
		{"keys are independent", []porcupine.Operation{op(0, "k", "a", 0, 1, placedX), op(1, "j", "b", 2, 3, placedY)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(Model, tc.ops); got != tc.ok {
				t.Fatalf("linearizable: %t, want %t", got, tc.ok)
			}
			if pairs := IllegalPairs(tc.ops); tc.ok != (len(pairs) == 0) && len(tc.ops) == 2 {
				t.Fatalf("illegal pairs of a 2-operation history: %v", pairs)
			}
		})
	}
}
