package web

import "strings"

// noted appends to a status message the notes worth reading about what was saved (the
// action's Saved.Notes): they do not stop a save, so they come with its confirmation.
func noted(msg string, notes []string) string {
	if len(notes) == 0 {
		return msg
	}
	return msg + " Note: " + strings.Join(notes, " ")
}
