/* rebuild.h: `rsvpctl rebuild`: recompute the PostgreSQL side of the pipeline from Kafka into new
 * tables (<table>_rebuild) and swap them in, in one transaction, while the pipeline keeps running.
 * The count is the pipeline's own: the aggregator's code counts (services/aggregator/aggregator.c),
 * the writer's code applies each batch offset-fenced (services/writer/store.c), so a killed rebuild
 * rerun continues where it stopped and counts nothing twice. After the swap the aggregators' next
 * batches find other stored offsets (STALE) and seek there: the live stream goes on from the
 * rebuild's end.
 *   --from parsed (default): a recount of rsvps.parsed.
 *   --from raw: rsvps.raw parsed again by the parser's code in this binary (after a parser change).
 *     The cut between what the rebuild counts and what the live pipeline counts needs the parsers
 *     stopped for a moment (--pause-parsers asks the supervisor, or --parsers-stopped: the operator
 *     did): raw up to the parser group's committed offsets is rebuilt, the parsed topic continues
 *     from its end at that moment. */
#ifndef TOOLS_RSVPCTL_REBUILD_H
#define TOOLS_RSVPCTL_REBUILD_H

/* rebuild_main: `rsvpctl rebuild ...` with argv[0] = "rebuild". Returns the exit code: 0 swapped,
 * 1 runtime failure (rerun it: it continues), 2 bad usage or a refused rebuild (e.g. the topic's
 * retention deleted messages). */
int rebuild_main(int argc, char **argv);

#endif
