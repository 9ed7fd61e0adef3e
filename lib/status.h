/* What --status prints: an aligned table for people, or JSON. */
#ifndef SFRUN_STATUS_H
#define SFRUN_STATUS_H

#include <stdio.h>

#include "proto.h"

struct status;

struct status	*status_new(void);
int		 status_add(struct status *, const struct proto_status_run *);
void		 status_counters(struct status *, const struct proto_counters *);
void		 status_print_table(const struct status *, FILE *);
void		 status_print_json(const struct status *, FILE *);
void		 status_free(struct status *);
void		 status_json_string(FILE *, const char *, size_t);
void		 status_human_bytes(uint64_t, char *, size_t);

#endif
