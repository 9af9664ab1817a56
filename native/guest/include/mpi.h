/* mpi.h — the MPI subset parallel programs use, for flat guests (lib/mpi*.c, build/lib/libsfmpi.a, linked
 * before libsfnet.a and libsfguest.a; `sf guest build` links it always). MPI's C names and types, so textbook
 * programs compile unchanged; one communicator (MPI_COMM_WORLD).
 *
 * How a job starts: the master VM runs the program with `np=N` in its args (sfmpirun puts it there). By default
 * every vCPU is a rank (processor mode): MPI_Init takes a processor ticket for the ranks the master's own vCPUs
 * cannot run (all at once: a short reservation fails, naming what is missing), forks, and every VM runs a rank
 * per vCPU it was given; ranks go VM by VM (vmid 0's first), then by vCPU. `mpi=vm` (sfmpirun -v) makes it one
 * rank per VM, rank = vmid. Ranks of one VM trade messages through shared memory, VMs over TCP on the cluster
 * network. MPI_Finalize waits for every rank, then clones exit and the master joins them.
 * Rules: in processor mode vCPU 0 returns from MPI_Init as the VM's first rank and every other vCPU runs main()
 * from the start (its MPI_Init returns at once), so the ranks of a VM SHARE ITS GLOBALS: keep per-rank state in
 * locals or malloc'd memory. Sends are buffered (a send completes once its bytes are queued), so MPI_Send never
 * waits for the matching receive; messages between two ranks never overtake each other. Reductions combine
 * contributions in rank order (the same bits every run). A rank that dies, exits before MPI_Finalize or goes
 * silent for mpi_timeout=S seconds (default 60) while another waits ends the whole job, which prints
 * "mpi: job aborted: rank R failed": a job never hangs on a dead rank. With 2 ranks or more every line a rank
 * prints starts "[rank] ". */
#ifndef SNOWFLOCK_MPI_H
#define SNOWFLOCK_MPI_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int MPI_Comm;
typedef int MPI_Datatype;
typedef int MPI_Op;
typedef struct mpi_request *MPI_Request;
typedef long MPI_Aint;

typedef struct MPI_Status {
  int MPI_SOURCE;
  int MPI_TAG;
  int MPI_ERROR;
  size_t count_bytes; /* bytes received (MPI_Get_count divides by the type's size) */
} MPI_Status;

#define MPI_COMM_WORLD 1
#define MPI_COMM_NULL 0
#define MPI_REQUEST_NULL ((MPI_Request)0)
#define MPI_STATUS_IGNORE ((MPI_Status *)0)
#define MPI_STATUSES_IGNORE ((MPI_Status *)0)
#define MPI_ANY_SOURCE (-1)
#define MPI_ANY_TAG (-1)
#define MPI_PROC_NULL (-2)
#define MPI_UNDEFINED (-32766)
#define MPI_TAG_UB 0x7fffffff
#define MPI_MAX_PROCESSOR_NAME 32
#define MPI_IN_PLACE ((void *)1)

/* Datatypes: the low byte is the size in bytes, the next the kind (for reductions). */
#define MPI_CHAR 0x0101
#define MPI_SIGNED_CHAR 0x0101
#define MPI_UNSIGNED_CHAR 0x0201
#define MPI_BYTE 0x0301
#define MPI_SHORT 0x0402
#define MPI_UNSIGNED_SHORT 0x0502
#define MPI_INT 0x0604
#define MPI_UNSIGNED 0x0704
#define MPI_LONG 0x0808
#define MPI_UNSIGNED_LONG 0x0908
#define MPI_LONG_LONG 0x0a08
#define MPI_LONG_LONG_INT 0x0a08
#define MPI_UNSIGNED_LONG_LONG 0x0b08
#define MPI_FLOAT 0x0c04
#define MPI_DOUBLE 0x0d08
#define MPI_INT64_T 0x0a08
#define MPI_UINT64_T 0x0b08
#define MPI_INT32_T 0x0604
#define MPI_UINT32_T 0x0704

#define MPI_OP_NULL 0
#define MPI_SUM 1
#define MPI_MAX 2
#define MPI_MIN 3
#define MPI_PROD 4
#define MPI_LAND 5
#define MPI_LOR 6
#define MPI_BAND 7
#define MPI_BOR 8
#define MPI_BXOR 9

/* Error codes (every call returns MPI_SUCCESS or one of these; errors are also printed: the handler is
 * MPI_ERRORS_RETURN with a message). */
#define MPI_SUCCESS 0
#define MPI_ERR_BUFFER 1
#define MPI_ERR_COUNT 2
#define MPI_ERR_TYPE 3
#define MPI_ERR_TAG 4
#define MPI_ERR_COMM 5
#define MPI_ERR_RANK 6
#define MPI_ERR_REQUEST 7
#define MPI_ERR_ROOT 8
#define MPI_ERR_OP 9
#define MPI_ERR_ARG 10
#define MPI_ERR_TRUNCATE 11
#define MPI_ERR_OTHER 12
#define MPI_ERR_INTERN 13
#define MPI_ERR_NO_MEM 14
#define MPI_ERR_NOT_INIT 15 /* a call before MPI_Init or after MPI_Finalize */
#define MPI_ERR_NET 16      /* a connection to a rank failed (the rank is named on the console) */
#define MPI_ERR_LASTCODE 16

int MPI_Init(int *argc, char ***argv);
int MPI_Initialized(int *flag);
int MPI_Finalize(void);
int MPI_Finalized(int *flag);
int MPI_Abort(MPI_Comm comm, int errorcode);
int MPI_Comm_rank(MPI_Comm comm, int *rank);
int MPI_Comm_size(MPI_Comm comm, int *size);
int MPI_Get_processor_name(char *name, int *resultlen);
int MPI_Error_string(int errorcode, char *string, int *resultlen);
int MPI_Type_size(MPI_Datatype type, int *size);
double MPI_Wtime(void);
double MPI_Wtick(void);

int MPI_Send(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm);
int MPI_Ssend(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm);
int MPI_Recv(void *buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Status *status);
int MPI_Sendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, int dest, int sendtag, void *recvbuf,
                 int recvcount, MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm, MPI_Status *status);
int MPI_Isend(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm, MPI_Request *req);
int MPI_Irecv(void *buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Request *req);
int MPI_Wait(MPI_Request *req, MPI_Status *status);
int MPI_Waitall(int count, MPI_Request reqs[], MPI_Status statuses[]);
int MPI_Test(MPI_Request *req, int *flag, MPI_Status *status);
int MPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status *status);
int MPI_Iprobe(int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status);
int MPI_Get_count(const MPI_Status *status, MPI_Datatype type, int *count);

int MPI_Barrier(MPI_Comm comm);
int MPI_Bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm);
int MPI_Reduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op, int root, MPI_Comm comm);
int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm);
int MPI_Gather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
               MPI_Datatype recvtype, int root, MPI_Comm comm);
int MPI_Allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                  MPI_Datatype recvtype, MPI_Comm comm);
int MPI_Scatter(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                MPI_Datatype recvtype, int root, MPI_Comm comm);

#ifdef __cplusplus
}
#endif

#endif /* SNOWFLOCK_MPI_H */
