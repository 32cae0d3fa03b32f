/*
 * commands.h: the commands of mailshift(1). Each takes the arguments after
 * the command name (argv[0] is the command) and returns the exit status.
 */
#ifndef MAILSHIFT_COMMANDS_H
#define MAILSHIFT_COMMANDS_H

int cmd_check(int argc, const char **argv);
int cmd_convert(int argc, const char **argv);
int cmd_dedup(int argc, const char **argv);
int cmd_repair(int argc, const char **argv);
int cmd_stats(int argc, const char **argv);

#endif
