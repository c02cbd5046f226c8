// Package testenv gives the SDK's tests real databases: a fresh MariaDB/MySQL database
// per test (dropped in t.Cleanup) and a fresh SQLite file, opened with the settings the
// suite's services use, and a goroutine-leak check for TestMain. It is imported only by
// tests.
//
// It is the SDK module's own small copy of the suite's internal/testenv: a module
// cannot import another module's internal packages. It links no SQLite engine (the
// SDK's import graph must stay free of one): SQLite takes the driver's gorm opener from
// the test, whose test-only import brings the engine in.
//
// The MySQL server is taken from TCC_TEST_MYSQL_DSN (default
// "root@tcp(127.0.0.1:3306)/"). A test that needs MySQL fails, never skips, when the
// server is unreachable: a skipped integration test hides exactly the failures it exists
// to catch.
package testenv
