package conf

import (
	"errors"
	"testing"
)

func TestProblems(t *testing.T) {
	var p Problems
	if p.Err() != nil {
		t.Fatal("the zero value has a problem")
	}
	p.Check(true, "not recorded")
	p.Add(nil)
	if p.Err() != nil {
		t.Fatalf("recorded %v", p.Err())
	}
	base := errors.New("base")
	p.Check(false, "A must be %d", 1)
	p.Add(base)
	err := p.Err()
	if err == nil || err.Error() != "A must be 1\nbase" || !errors.Is(err, base) {
		t.Errorf("Err() = %v", err)
	}
}
