/* genet-rt export, eval and predict: the commands that use model files
 * (infer.c). Each takes the command's argc/argv (argv[0] the command) and
 * returns the process's exit status. */
#ifndef GN_HOST_INFER_H
#define GN_HOST_INFER_H

int gn_cmd_export(int argc, char **argv);
int gn_cmd_eval(int argc, char **argv);
int gn_cmd_predict(int argc, char **argv);

#endif
