package local

// ProcStat gives the external tests the runtime's own reading of
// /proc/<pid>/stat: the state letter and the session id.
func ProcStat(pid int) (state byte, session int, ok bool) {
	st, ok := readStat(pid)
	return st.state, st.session, ok
}
