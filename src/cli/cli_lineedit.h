/* A line editor for `mallard shell` on a terminal, as the DuckDB, psql and sqlite3 command lines
 * have: the cursor moves within the line (arrows, Home/End, Ctrl-A/E/B/F, Alt-B/F and
 * Ctrl-arrows by word), text is deleted by character, word or to either end (Backspace, Delete,
 * Ctrl-D/H/W/U/K, Alt-Backspace/D), Up/Down (Ctrl-P/N) walk the history and Ctrl-R searches it,
 * Ctrl-L clears the screen, Ctrl-Z suspends. Text is UTF-8; wide (East Asian) characters take
 * two columns and combining marks none. A line longer than the terminal scrolls sideways.
 *
 * The terminal is in raw mode only while a line is read (cli_lineedit_read), so that output and
 * Ctrl-C (SIGINT) between reads behave as on any terminal. Ctrl-C while reading ends the read
 * with CLI_LE_INTERRUPT, as does a signal that interrupts it (EINTR) unless a redraw was
 * requested (cli_lineedit_request_redraw).
 *
 * History: entries are appended to a file as they are added (one per line; a new file is made
 * with mode 0600: SQL can hold secrets), the newest max_entries are loaded at open. Only a
 * regular file is read or written.
 *
 * Ownership: cli_lineedit_new returns an editor the caller frees with cli_lineedit_free; lines
 * returned by cli_lineedit_read belong to the caller. Not thread-safe: one thread reads. */
#ifndef CLI_LINEEDIT_H
#define CLI_LINEEDIT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cli_lineedit cli_lineedit;

typedef enum cli_le_result {
  CLI_LE_LINE,      /* a line was entered */
  CLI_LE_EOF,       /* Ctrl-D on an empty line, or the input ended */
  CLI_LE_INTERRUPT, /* Ctrl-C, or a signal interrupted the read */
  CLI_LE_ERROR      /* out of memory, or the terminal failed (errno) */
} cli_le_result;

/* An editor reading keys from in_fd and drawing on out_fd. When in_fd is not a terminal (as in
 * tests) keys are read as they come, without raw mode. history_path (copied) is the history
 * file, NULL for none; at most max_entries are kept. NULL when out of memory. */
cli_lineedit *cli_lineedit_new(int in_fd, int out_fd, const char *history_path, size_t max_entries);
void cli_lineedit_free(cli_lineedit *le);

/* Reads one line after prompt (plain ASCII text). On CLI_LE_LINE, *line is the line without its
 * newline (caller frees); it is not added to the history (cli_lineedit_history_add). */
cli_le_result cli_lineedit_read(cli_lineedit *le, const char *prompt, char **line);

/* Asks the read under way to put the terminal in raw mode again and redraw the line, once a
 * signal interrupts its wait (EINTR): for SIGCONT (the process was stopped and continued; the
 * shell that continued it may have changed the terminal's mode) and SIGWINCH. Thread-safe and
 * async-signal-safe; the caller interrupts the reading thread itself (pthread_kill). */
void cli_lineedit_request_redraw(cli_lineedit *le);
/* True until the read under way has acted on the request (the caller interrupts it until then:
 * a signal sent just before the read starts waiting does not interrupt it). */
bool cli_lineedit_redraw_pending(cli_lineedit *le);

/* Adds line to the history and appends it to the history file, unless it is blank or repeats the
 * newest entry. False when out of memory or the file could not be written (the entry is kept in
 * memory then). */
bool cli_lineedit_history_add(cli_lineedit *le, const char *line);

/* The number of entries in the history, and entry i (0 is the oldest); NULL when out of range. */
size_t cli_lineedit_history_len(const cli_lineedit *le);
const char *cli_lineedit_history_get(const cli_lineedit *le, size_t i);

/* Where the history file is by default: $MALLARD_HISTORY (empty: none), else
 * $HOME/.mallard_history; NULL when neither gives one. Caller frees. */
char *cli_lineedit_default_history_path(void);

#endif /* CLI_LINEEDIT_H */
