package archive

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestVenueTableDocumented keeps docs/PATH-CONTRACT.md's venue table and
// the built-in one identical: ids are part of the archive.
func TestVenueTableDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/PATH-CONTRACT.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]uint16{}
	for _, m := range regexp.MustCompile(`\|\s*(\d+)\s*\|\s*([a-z0-9-]+)\s*`).FindAllSubmatch(doc, -1) {
		id, _ := strconv.Atoi(string(m[1]))
		documented[string(m[2])] = uint16(id)
	}
	for _, v := range Venues() {
		if got, ok := documented[v.Name]; !ok || got != v.ID {
			t.Errorf("venue %s = %d in code, %d (listed %v) in docs/PATH-CONTRACT.md", v.Name, v.ID, got, ok)
		}
	}
	if len(documented) != len(Venues()) {
		t.Errorf("docs list %d venues, code %d", len(documented), len(Venues()))
	}
}
