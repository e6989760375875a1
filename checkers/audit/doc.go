// Package audit holds only tests: they hold every checker to the same
// promises on hostile histories. A history that breaks the record protocol,
// says nothing, or names an operation the contract does not define is
// judged unknown, with a reason, by every checker alike; overlapping faults
// pair and keep the verdict; an info completion is never taken as failed.
package audit
