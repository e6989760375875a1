package reports

import "testing"

// Fixture writes a hand-built run directory of the given kind ("lock",
// "lease", "labels", "snowflake", "lanes", "hostile") into dir, for the browser tests in reports_test.
func Fixture(t testing.TB, kind, dir string) string {
	t.Helper()
	switch kind {
	case "lock":
		return lockFixture().write(t, dir)
	case "snowflake":
		return snowflakeFixture().write(t, dir)
	case "lanes":
		return laneFixture().write(t, dir)
	case "lease":
		return leaseFixture().write(t, dir)
	case "labels":
		return labelFixture().write(t, dir)
	case "hostile":
		return hostileFixture(t, dir)
	}
	t.Fatalf("no fixture %q", kind)
	return ""
}
