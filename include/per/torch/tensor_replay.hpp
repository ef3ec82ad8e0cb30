#ifndef PER_TORCH_TENSOR_REPLAY_HPP
#define PER_TORCH_TENSOR_REPLAY_HPP

/// @file
/// per::torch::tensor_replay<Sampler>: prioritized replay whose items are rows of preallocated
/// LibTorch tensors, one tensor per column (struct of arrays), gathered with one index_select
/// per column when a batch is drawn. Opt-in and the only header of the library that includes
/// <torch/torch.h>: link the CMake target per::torch (defined only where find_package(Torch)
/// succeeds), not just per::per. per.hpp does not include it.
///
/// The namespace is per::torch: inside it, and in code that says `using namespace per;`,
/// name LibTorch's namespace from the global scope, with a leading `::` (a plain torch::Tensor is
/// then ambiguous, or means per::torch).

#include "../detail/error.hpp"
#include "../detail/update_validation.hpp"
#include "../prioritized_sampler.hpp"
#include "../replay_handle.hpp"
#include "../replay_options.hpp"
#include "../sample_batch.hpp"

#include <torch/torch.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace per::torch {

/// One column of a tensor_replay: its name (unique, not empty), the shape of one row ({} for a
/// scalar per row, {4} for a CartPole observation, {4, 84, 84} for a frame stack) and the dtype
/// it is stored in.
struct column_spec {
    std::string name;                         ///< How rows and batches name the column.
    std::vector<std::int64_t> shape;          ///< The shape of one row; every entry >= 0.
    ::torch::Dtype dtype = ::torch::kFloat32; ///< The storage dtype.
};

/// An ordered row: one tensor per column, in the order of tensor_replay::columns().
using tensor_row = std::vector<::torch::Tensor>;
/// A named row: exactly one tensor per column name.
using named_tensor_row = std::map<std::string, ::torch::Tensor>;

template <class Sampler = prioritized_sampler>
class tensor_replay;

/// B rows drawn from a tensor_replay: per column one tensor [B, shape...] of the column's dtype
/// on the replay's device (fresh tensors: they share no memory with the replay), the
/// importance-sampling weights as float32 [B] on the device, the slots as int64 [B] on the
/// device (the index the gathers used), and the sampler's handles, slots and probabilities on
/// the host for update_priorities.
class tensor_batch {
public:
    /// The number of draws B.
    std::size_t size() const noexcept { return m_draws.size(); }
    /// The gathered columns, in the replay's columns() order.
    const std::vector<::torch::Tensor>& columns() const noexcept { return m_columns; }
    /// The gathered column `k` (in columns() order). Throws std::out_of_range if k is not below
    /// the number of columns.
    const ::torch::Tensor& column(std::size_t k) const {
        detail::check_index("per::torch::tensor_batch::column", "k", k, m_columns.size());
        return m_columns[k];
    }
    /// The gathered column named `name`. Throws std::invalid_argument if no column has it.
    const ::torch::Tensor& operator[](const std::string& name) const {
        for (std::size_t k = 0; k < m_names.size(); ++k) {
            if (m_names[k] == name) {
                return m_columns[k];
            }
        }
        detail::throw_invalid_argument("per::torch::tensor_batch::operator[]", "name",
                                       "'" + name + "'", "is not a column name");
    }
    /// Importance-sampling weights, float32 [B] on the device (the sampler's, rounded).
    const ::torch::Tensor& weights() const noexcept { return m_weights; }
    /// The sampled slots, int64 [B] on the device.
    const ::torch::Tensor& indices() const noexcept { return m_indices; }
    /// The handle of each draw, for update_priorities.
    const std::vector<replay_handle>& handles() const noexcept { return m_draws.handles(); }
    /// The slot of each draw.
    const std::vector<std::size_t>& slots() const noexcept { return m_draws.slots(); }
    /// P(i) of each draw, in double, as the sampler computed it.
    const std::vector<double>& probabilities() const noexcept { return m_draws.probabilities(); }
    /// The sampler's batch (its weights in double).
    const sample_batch& draws() const noexcept { return m_draws; }

private:
    template <class>
    friend class tensor_replay;

    sample_batch m_draws;
    std::vector<std::string> m_names;
    std::vector<::torch::Tensor> m_columns;
    ::torch::Tensor m_weights;
    ::torch::Tensor m_indices;
};

/// Prioritized replay with item storage in LibTorch tensors, the struct-of-arrays layout of the
/// PER tutorials: each column is one tensor [capacity, shape...] allocated once, at
/// construction, on `device`; push writes a row into the ring slot and fills the Sampler;
/// sample draws with the Sampler and gathers each column with one index_select.
///
///     using per::torch::column_spec;
///     per::torch::tensor_replay<> replay(100'000, {{"state", {4}, ::torch::kFloat32},
///                                                  {"action", {}, ::torch::kInt64},
///                                                  {"reward", {}, ::torch::kFloat32}},
///                                        per::replay_options{}.alpha(0.6));
///     replay.push({state, action, reward});              // running max priority
///     auto batch = replay.sample(64, beta, rng);         // batch["state"]: [64, 4]
///     replay.update_priorities(batch.handles(), td_errors.abs()); // a tensor [64]
///
/// Ring: the t-th row pushed (t = 0, 1, ...) goes to slot t mod capacity, overwriting the
/// oldest row once full, as per::replay_buffer does; priorities, sampling modes, IS weights
/// and handle generations are the Sampler's (basic_sampler.hpp), so a slot's handles go stale
/// when its row is overwritten. Sampler is a basic_sampler (prioritized_sampler,
/// rank_based_sampler, basic_prioritized_sampler<sum_tree<float>>).
///
/// Rows: a row tensor must have exactly the column's row shape (no broadcasting; a 0-d tensor
/// for shape {}). Its dtype is converted to the column's when LibTorch's casting rule allows
/// it, c10::canCast (the rule of in-place operations: float64 -> float32, int64 -> int32,
/// bool -> anything are converted), and refused otherwise (a floating-point tensor for an
/// integer column, a complex one for a real column, a non-bool one for a bool column): a
/// silent float -> int truncation is more likely a bug than an intent. A row tensor on another
/// device is copied to the storage device. requires_grad is dropped: storage holds values. Rows
/// may be views of the replay's own storage (re-pushing stored rows): those are copied first.
///
/// Devices: the code is the same for every device; only the CPU is tested (the machine this was
/// written on has no GPU). A CUDA device is the same code path with the tensors on that
/// device; nothing more is claimed. The sampler, the handles and the probabilities stay on the
/// host; only the gathered columns, the weights and the indices are on the device.
///
/// Complexity (C = capacity, R = the elements of a row over all columns): push O(R + log C),
/// push_batch of B rows O(B R + B log C) with one index_copy_ per column, sample O(B log C + B
/// R) with one index_select per column, update_priorities O(B log C).
/// Memory: memory_bytes() = sum over the columns of C * row elements * dtype size, plus the
/// sampler's memory_bytes() (prioritized_sampler: about 23.5 bytes per slot).
///
/// Exceptions: push, push_batch and update_priorities validate everything (column count,
/// names, shapes, dtypes, priorities) before they write anything, and throw
/// std::invalid_argument naming the argument and its value; the replay is then unchanged
/// (strong guarantee). Conversions are done into temporaries before the first write, so an
/// allocation failure changes nothing either; only an error LibTorch raises in the writes
/// themselves (a device fault) would leave the written slot's columns unspecified. sample
/// throws as the Sampler's sample (batch_size 0, above size() without replacement, beta
/// outside [0, 1]) with the replay unchanged. Copies are deep (every column cloned); moves
/// are noexcept and leave the source with capacity() 0, on which push throws std::logic_error.
template <class Sampler>
class tensor_replay {
public:
    /// The sampler over the slots.
    using sampler_type = Sampler;
    /// Slots and counts.
    using size_type = std::size_t;
    /// What sample() returns.
    using batch_type = tensor_batch;

    /// O(C R). A replay of `capacity` rows of the given columns, each column's storage one
    /// zero-filled tensor [capacity, shape...] of its dtype on `device`, with the sampler's
    /// options. Throws std::invalid_argument if capacity is 0, `columns` is empty, a name is
    /// empty or repeated, a shape entry is negative, an option is invalid (as the sampler
    /// checks them), or `device` is a CUDA device while torch::cuda::is_available() is false;
    /// std::length_error if capacity exceeds the sampler's max_capacity(); whatever LibTorch
    /// throws if the storage cannot be allocated.
    tensor_replay(size_type capacity, std::vector<column_spec> columns, replay_options options = {},
                  ::torch::Device device = ::torch::kCPU)
        : m_columns(checked_columns(capacity, std::move(columns), device))
        , m_device(device)
        , m_sampler(capacity, options) {
        m_storage.reserve(m_columns.size());
        for (const column_spec& column : m_columns) {
            std::vector<std::int64_t> sizes{static_cast<std::int64_t>(capacity)};
            sizes.insert(sizes.end(), column.shape.begin(), column.shape.end());
            m_storage.push_back(
                ::torch::zeros(sizes, ::torch::TensorOptions().dtype(column.dtype).device(device)));
        }
    }

    /// A deep copy: every column cloned, the same sampler (the same batches from the same
    /// engine state). Throws what LibTorch throws when the clones cannot be allocated.
    tensor_replay(const tensor_replay& other)
        : m_columns(other.m_columns)
        , m_device(other.m_device)
        , m_sampler(other.m_sampler)
        , m_next(other.m_next) {
        m_storage.reserve(other.m_storage.size());
        for (const ::torch::Tensor& column : other.m_storage) {
            m_storage.push_back(column.clone());
        }
    }
    /// Takes the other replay's storage; the other is left with capacity() 0 and no columns.
    tensor_replay(tensor_replay&& other) noexcept
        : m_columns(std::move(other.m_columns))
        , m_device(other.m_device)
        , m_storage(std::move(other.m_storage))
        , m_sampler(std::move(other.m_sampler))
        , m_next(std::exchange(other.m_next, 0)) {
        other.m_columns.clear();
        other.m_storage.clear();
    }
    /// Strong guarantee: if the copy throws, *this is unchanged.
    tensor_replay& operator=(const tensor_replay& other) {
        if (this != &other) {
            tensor_replay copy(other);
            *this = std::move(copy);
        }
        return *this;
    }
    /// As the move constructor. Self-move: no-op.
    tensor_replay& operator=(tensor_replay&& other) noexcept {
        if (this != &other) {
            m_columns = std::move(other.m_columns);
            m_device = other.m_device;
            m_storage = std::move(other.m_storage);
            m_sampler = std::move(other.m_sampler);
            m_next = std::exchange(other.m_next, 0);
            other.m_columns.clear();
            other.m_storage.clear();
        }
        return *this;
    }
    ~tensor_replay() = default;

    // --- Observers, O(1) ----------------------------------------------------------------------

    /// Row slots.
    size_type capacity() const noexcept { return m_sampler.capacity(); }
    /// Rows held (pushed and not overwritten).
    size_type size() const noexcept { return m_sampler.size(); }
    /// Whether no row is held.
    bool empty() const noexcept { return size() == 0; }
    /// The columns, in the order of ordered rows and of tensor_batch::columns().
    const std::vector<column_spec>& columns() const noexcept { return m_columns; }
    /// The device of the storage.
    const ::torch::Device& device() const noexcept { return m_device; }
    /// The slot the next push writes.
    size_type next_slot() const noexcept { return m_next; }
    /// The storage tensors [capacity, shape...], in columns() order. Tensors are handles:
    /// writing through them changes the replay's rows, unchecked (slots never pushed hold 0).
    const std::vector<::torch::Tensor>& storage() const noexcept { return m_storage; }
    /// The storage tensor of the column named `name`. Throws std::invalid_argument if no column
    /// has that name.
    const ::torch::Tensor& storage(const std::string& name) const {
        return m_storage[column_index("per::torch::tensor_replay::storage", "name", name)];
    }
    /// The sampler, read-only: priorities, probabilities, handles by slot, export_state.
    const Sampler& sampler() const noexcept { return m_sampler; }
    /// The sampler's max_priority(): what a push without a priority gives.
    double max_priority() const noexcept { return m_sampler.max_priority(); }
    /// Bytes of the storage tensors (on their device) plus the sampler's host memory.
    size_type memory_bytes() const noexcept {
        size_type bytes = m_sampler.memory_bytes();
        for (const ::torch::Tensor& column : m_storage) {
            bytes += static_cast<size_type>(column.numel()) * column.element_size();
        }
        return bytes;
    }

    // --- Adding rows --------------------------------------------------------------------------

    /// O(R + log C). Writes `row` (one tensor per column, in columns() order) into slot
    /// next_slot() and fills it with the sampler's max_priority(); returns its handle. Throws
    /// std::invalid_argument if row.size() is not the number of columns or a tensor is
    /// undefined, of another shape than its column's row shape, or of a dtype that cannot be
    /// cast to the column's (see the class comment); std::logic_error on a moved-from replay.
    /// Unchanged on throw.
    replay_handle push(const tensor_row& row) {
        static constexpr const char* where = "per::torch::tensor_replay::push";
        return store(staged_row(where, row), nullptr);
    }
    /// As above, with the row's raw priority. Also throws std::invalid_argument if it is
    /// negative, not finite or above the sampler's priority_limit().
    replay_handle push(const tensor_row& row, double priority) {
        static constexpr const char* where = "per::torch::tensor_replay::push";
        std::vector<::torch::Tensor> staged = staged_row(where, row);
        check_priority(where, "priority", priority);
        return store(std::move(staged), &priority);
    }
    /// As push(row) for a braced list of tensors: `replay.push({state, action, reward})`
    /// (without this overload a two-tensor list would be ambiguous with a named row).
    replay_handle push(std::initializer_list<::torch::Tensor> row) { return push(tensor_row(row)); }
    /// As above, with the row's raw priority.
    replay_handle push(std::initializer_list<::torch::Tensor> row, double priority) {
        return push(tensor_row(row), priority);
    }
    /// As push(row) for a row given by column name: exactly one tensor per column. Also throws
    /// std::invalid_argument naming a name that is no column's, or a column the row misses.
    replay_handle push(const named_tensor_row& row) { return push(ordered("push", row)); }
    /// As above, with the row's raw priority.
    replay_handle push(const named_tensor_row& row, double priority) {
        return push(ordered("push", row), priority);
    }

    /// O(B R + B log C). B pushes in one: `rows` holds per column one tensor [B, shape...] (the
    /// same B for every column, B >= 0), written with one index_copy_ per column into the slots
    /// next_slot(), next_slot() + 1, ... (mod capacity), then filled in one sampler batch with
    /// max_priority(). The same storage, slots, generations and handles as B calls of push, in
    /// order, bit for bit; a batch larger than capacity() overwrites its own first rows (only
    /// the last capacity() rows are written; the earlier handles are stale). Returns the B
    /// handles. Throws as push, naming rows[k], plus std::invalid_argument if the tensors
    /// disagree on B or one has no leading dimension. Unchanged on throw.
    std::vector<replay_handle> push_batch(const tensor_row& rows) {
        return store_batch(staged_batch("push_batch", rows), nullptr);
    }
    /// As above, row b with raw priority priorities[b]. Also throws std::invalid_argument if
    /// priorities.size() is not B, or naming priorities[b] if one is negative, not finite or
    /// above the sampler's priority_limit().
    std::vector<replay_handle> push_batch(const tensor_row& rows,
                                          const std::vector<double>& priorities) {
        static constexpr const char* where = "per::torch::tensor_replay::push_batch";
        staged_rows staged = staged_batch("push_batch", rows);
        if (priorities.size() != staged.count) {
            detail::throw_invalid_argument(where, "priorities.size()", priorities.size(),
                                           "must equal the batch size B = " +
                                               std::to_string(staged.count));
        }
        for (size_type b = 0; b < priorities.size(); ++b) {
            const std::string argument = "priorities[" + std::to_string(b) + "]";
            check_priority(where, argument.c_str(), priorities[b]);
        }
        return store_batch(std::move(staged), priorities.data());
    }
    /// As push_batch(rows) for a braced list of tensors.
    std::vector<replay_handle> push_batch(std::initializer_list<::torch::Tensor> rows) {
        return push_batch(tensor_row(rows));
    }
    /// As push_batch(rows, priorities) for a braced list of tensors.
    std::vector<replay_handle> push_batch(std::initializer_list<::torch::Tensor> rows,
                                          const std::vector<double>& priorities) {
        return push_batch(tensor_row(rows), priorities);
    }
    /// As push_batch(rows) for rows given by column name.
    std::vector<replay_handle> push_batch(const named_tensor_row& rows) {
        return push_batch(ordered("push_batch", rows));
    }
    /// As push_batch(rows, priorities) for rows given by column name.
    std::vector<replay_handle> push_batch(const named_tensor_row& rows,
                                          const std::vector<double>& priorities) {
        return push_batch(ordered("push_batch", rows), priorities);
    }

    // --- Sampling and updating ----------------------------------------------------------------

    /// O(B log C + B R). Draws batch_size slots with the sampler (its modes, reproducibility
    /// and exceptions: batch_size 0, batch_size above what can be drawn, beta outside [0, 1],
    /// named in the sampler's messages) and gathers every column with one index_select, the
    /// indices an int64 tensor on the storage device. The same generator state gives the same
    /// batch. Unchanged on throw.
    template <class Generator>
    tensor_batch sample(size_type batch_size, double beta, Generator& generator) {
        tensor_batch out;
        m_sampler.sample(batch_size, beta, generator, out.m_draws);
        const std::vector<std::size_t>& slots = out.m_draws.slots();
        ::torch::Tensor indices = ::torch::empty({static_cast<std::int64_t>(batch_size)},
                                                 ::torch::TensorOptions().dtype(::torch::kInt64));
        std::int64_t* index = indices.data_ptr<std::int64_t>();
        for (size_type b = 0; b < batch_size; ++b) {
            index[b] = static_cast<std::int64_t>(slots[b]);
        }
        out.m_indices = indices.to(m_device);
        out.m_columns.reserve(m_storage.size());
        out.m_names.reserve(m_columns.size());
        for (size_type c = 0; c < m_storage.size(); ++c) {
            out.m_columns.push_back(m_storage[c].index_select(0, out.m_indices));
            out.m_names.push_back(m_columns[c].name);
        }
        const std::vector<double>& weights = out.m_draws.weights();
        out.m_weights = ::torch::from_blob(const_cast<double*>(weights.data()),
                                           {static_cast<std::int64_t>(batch_size)},
                                           ::torch::TensorOptions().dtype(::torch::kFloat64))
                            .to(m_device, ::torch::kFloat32);
        return out;
    }

    /// O(B log C). The sampler's update_priorities: sets the raw priority of each item named by
    /// handles[k] to priorities[k] (usually |TD error|), skipping stale handles; returns the
    /// number applied. Throws as the sampler (std::invalid_argument if the sizes differ or a
    /// priority is refused, std::out_of_range for a slot >= capacity()); unchanged on throw.
    size_type update_priorities(const std::vector<replay_handle>& handles,
                                const std::vector<double>& priorities) {
        return m_sampler.update_priorities(handles, priorities);
    }
    /// As above with the priorities in a 1-D tensor of handles.size() elements, of any real or
    /// integer dtype on any device (|TD errors| straight from the loss): detached, copied to the
    /// host and converted to double, then applied as above. Throws std::invalid_argument if the
    /// tensor is undefined, not 1-D, of another length, or of a complex or bool dtype.
    size_type update_priorities(const std::vector<replay_handle>& handles,
                                const ::torch::Tensor& priorities) {
        static constexpr const char* where = "per::torch::tensor_replay::update_priorities";
        if (!priorities.defined()) {
            detail::throw_invalid_argument(where, "priorities", "undefined", "must be a tensor");
        }
        if (priorities.dim() != 1) {
            detail::throw_invalid_argument(where, "priorities.sizes()",
                                           shape_text(priorities.sizes()),
                                           "must be 1-D: [handles.size()]");
        }
        if (static_cast<size_type>(priorities.size(0)) != handles.size()) {
            detail::throw_invalid_argument(where, "priorities.size(0)", priorities.size(0),
                                           "must equal handles.size() = " +
                                               std::to_string(handles.size()));
        }
        const ::torch::Dtype dtype = priorities.scalar_type();
        if (dtype == ::torch::kBool || ::torch::isComplexType(dtype)) {
            detail::throw_invalid_argument(where, "priorities.dtype()", c10::toString(dtype),
                                           "must be a real or integer dtype");
        }
        const ::torch::Tensor host =
            priorities.detach().to(::torch::kCPU, ::torch::kFloat64).contiguous();
        return m_sampler.update_priorities(handles.data(), host.data_ptr<double>(), handles.size());
    }
    /// The sampler's set_alpha (O(C); unchanged on throw).
    void set_alpha(double alpha) { m_sampler.set_alpha(alpha); }

private:
    static constexpr const char* name = "per::torch::tensor_replay";

    // Converted rows of a validated push_batch: per column [count, shape...] on the device.
    struct staged_rows {
        std::vector<::torch::Tensor> columns;
        size_type count = 0;
    };

    static std::string shape_text(::torch::IntArrayRef sizes) {
        std::string text = "[";
        for (size_type k = 0; k < sizes.size(); ++k) {
            text += (k == 0 ? "" : ", ") + std::to_string(sizes[k]);
        }
        return text + "]";
    }

    static std::vector<column_spec> checked_columns(size_type capacity,
                                                    std::vector<column_spec> columns,
                                                    const ::torch::Device& device) {
        detail::check_capacity(name, capacity, Sampler::max_capacity());
        if (capacity > static_cast<size_type>(std::numeric_limits<std::int64_t>::max())) {
            throw std::length_error(detail::describe(name, "capacity", capacity,
                                                     "must fit in a tensor dimension (int64)"));
        }
        if (columns.empty()) {
            detail::throw_invalid_argument(name, "columns.size()", columns.size(), "must be > 0");
        }
        for (size_type c = 0; c < columns.size(); ++c) {
            const std::string argument = "columns[" + std::to_string(c) + "]";
            if (columns[c].name.empty()) {
                detail::throw_invalid_argument(name, (argument + ".name").c_str(), "''",
                                               "must not be empty");
            }
            for (size_type other = 0; other < c; ++other) {
                if (columns[other].name == columns[c].name) {
                    detail::throw_invalid_argument(
                        name, (argument + ".name").c_str(), "'" + columns[c].name + "'",
                        "must be unique (columns[" + std::to_string(other) + "] has it too)");
                }
            }
            for (std::int64_t extent : columns[c].shape) {
                if (extent < 0) {
                    detail::throw_invalid_argument(name, (argument + ".shape").c_str(),
                                                   shape_text(columns[c].shape),
                                                   "must have no negative entry");
                }
            }
        }
        if (device.is_cuda() && !::torch::cuda::is_available()) {
            detail::throw_invalid_argument(name, "device", device.str(),
                                           "is a CUDA device, and torch::cuda::is_available() "
                                           "is false");
        }
        return columns;
    }

    size_type column_index(const char* where, const char* argument,
                           const std::string& column) const {
        for (size_type c = 0; c < m_columns.size(); ++c) {
            if (m_columns[c].name == column) {
                return c;
            }
        }
        detail::throw_invalid_argument(where, argument, "'" + column + "'", "is not a column name");
    }

    void check_not_moved_from(const char* where) const {
        if (capacity() == 0) {
            detail::throw_moved_from(where);
        }
    }

    void check_priority(const char* where, const char* argument, double priority) const {
        if (!(std::isfinite(priority) && priority >= 0.0 &&
              priority <= m_sampler.priority_limit())) {
            detail::reject_priority(where, argument, priority,
                                    m_sampler.index().priority_limit_requirement());
        }
    }

    // A named row in columns() order; throws naming an unknown name or a missing column.
    tensor_row ordered(const char* member, const named_tensor_row& row) const {
        const std::string where = std::string(name) + "::" + member;
        for (const auto& entry : row) {
            column_index(where.c_str(), "row name", entry.first);
        }
        tensor_row result;
        result.reserve(m_columns.size());
        for (const column_spec& column : m_columns) {
            const auto found = row.find(column.name);
            if (found == row.end()) {
                detail::throw_invalid_argument(where.c_str(), "row", "a named row",
                                               "misses column '" + column.name + "'");
            }
            result.push_back(found->second);
        }
        return result;
    }

    // Checks the tensor for column c: defined, the expected sizes, a castable dtype. Returns it
    // converted to the column's dtype on the device (a temporary; nothing is written).
    ::torch::Tensor staged_tensor(const char* where, const std::string& argument, size_type c,
                                  const ::torch::Tensor& tensor,
                                  ::torch::IntArrayRef expected) const {
        const column_spec& column = m_columns[c];
        if (!tensor.defined()) {
            detail::throw_invalid_argument(where, argument.c_str(), "undefined",
                                           "must be a tensor (column '" + column.name + "')");
        }
        if (tensor.sizes() != expected) {
            detail::throw_invalid_argument(
                where, (argument + ".sizes()").c_str(), shape_text(tensor.sizes()),
                "must equal " + shape_text(expected) + " (column '" + column.name + "')");
        }
        if (!c10::canCast(tensor.scalar_type(), column.dtype)) {
            detail::throw_invalid_argument(
                where, (argument + ".dtype()").c_str(), c10::toString(tensor.scalar_type()),
                std::string("cannot be cast to ") + c10::toString(column.dtype) +
                    ", the dtype of column '" + column.name + "' (c10::canCast refuses it)");
        }
        ::torch::Tensor staged = tensor.detach().to(m_device, column.dtype);
        // Rows read from this replay's own storage may overlap the slots they overwrite (which
        // LibTorch refuses mid-write, or copies in an unspecified order): copy them first.
        if (staged.is_alias_of(m_storage[c])) {
            staged = staged.clone();
        }
        return staged;
    }

    std::vector<::torch::Tensor> staged_row(const char* where, const tensor_row& row) const {
        check_not_moved_from(where);
        if (row.size() != m_columns.size()) {
            detail::throw_invalid_argument(where, "row.size()", row.size(),
                                           "must equal columns().size() = " +
                                               std::to_string(m_columns.size()));
        }
        std::vector<::torch::Tensor> staged;
        staged.reserve(row.size());
        for (size_type c = 0; c < row.size(); ++c) {
            staged.push_back(staged_tensor(where, "row[" + std::to_string(c) + "]", c, row[c],
                                           m_columns[c].shape));
        }
        return staged;
    }

    staged_rows staged_batch(const char* member, const tensor_row& rows) const {
        const std::string where = std::string(name) + "::" + member;
        check_not_moved_from(where.c_str());
        if (rows.size() != m_columns.size()) {
            detail::throw_invalid_argument(where.c_str(), "rows.size()", rows.size(),
                                           "must equal columns().size() = " +
                                               std::to_string(m_columns.size()));
        }
        staged_rows staged;
        for (size_type c = 0; c < rows.size(); ++c) {
            const std::string argument = "rows[" + std::to_string(c) + "]";
            if (!rows[c].defined() || rows[c].dim() == 0) {
                detail::throw_invalid_argument(where.c_str(), argument.c_str(),
                                               rows[c].defined() ? "a 0-d tensor" : "undefined",
                                               "must be a tensor [B, row shape...] (column '" +
                                                   m_columns[c].name + "')");
            }
            const std::int64_t count = rows[c].size(0);
            if (c > 0 && static_cast<size_type>(count) != staged.count) {
                detail::throw_invalid_argument(
                    where.c_str(), (argument + ".size(0)").c_str(), count,
                    "must equal rows[0].size(0) = " + std::to_string(staged.count) +
                        ", the batch size B");
            }
            staged.count = static_cast<size_type>(count);
            std::vector<std::int64_t> expected{count};
            expected.insert(expected.end(), m_columns[c].shape.begin(), m_columns[c].shape.end());
            staged.columns.push_back(staged_tensor(where.c_str(), argument, c, rows[c], expected));
        }
        return staged;
    }

    // After validation and conversion: the writes, then the sampler's fill (validated: it does
    // not throw).
    replay_handle store(std::vector<::torch::Tensor> row, const double* priority) {
        const size_type slot = m_next;
        for (size_type c = 0; c < row.size(); ++c) {
            m_storage[c].select(0, static_cast<std::int64_t>(slot)).copy_(row[c]);
        }
        const replay_handle handle =
            priority != nullptr ? m_sampler.fill(slot, *priority) : m_sampler.fill(slot);
        m_next = slot + 1 == capacity() ? 0 : slot + 1;
        return handle;
    }

    std::vector<replay_handle> store_batch(staged_rows rows, const double* priorities) {
        const size_type count = rows.count;
        std::vector<replay_handle> handles(count);
        if (count == 0) {
            return handles;
        }
        std::vector<size_type> slots(count);
        for (size_type b = 0, slot = m_next; b < count; ++b) {
            slots[b] = slot;
            slot = slot + 1 == capacity() ? 0 : slot + 1;
        }
        // Only the last capacity() rows survive B pushes; writing just those keeps the indices
        // of index_copy_ distinct (with duplicates, which copy wins is unspecified).
        const size_type first = count > capacity() ? count - capacity() : 0;
        const size_type written = count - first;
        ::torch::Tensor indices = ::torch::empty({static_cast<std::int64_t>(written)},
                                                 ::torch::TensorOptions().dtype(::torch::kInt64));
        std::int64_t* index = indices.data_ptr<std::int64_t>();
        for (size_type b = 0; b < written; ++b) {
            index[b] = static_cast<std::int64_t>(slots[first + b]);
        }
        indices = indices.to(m_device);
        for (size_type c = 0; c < rows.columns.size(); ++c) {
            m_storage[c].index_copy_(0, indices,
                                     rows.columns[c].narrow(0, static_cast<std::int64_t>(first),
                                                            static_cast<std::int64_t>(written)));
        }
        if (priorities != nullptr) {
            m_sampler.fill_batch(slots.data(), priorities, count, handles.data());
        } else {
            m_sampler.fill_batch(slots.data(), count, handles.data());
        }
        m_next = (m_next + count) % capacity();
        return handles;
    }

    std::vector<column_spec> m_columns;
    ::torch::Device m_device;
    std::vector<::torch::Tensor> m_storage; // per column [capacity, shape...]
    Sampler m_sampler;
    size_type m_next = 0; // the slot of the next push
};

} // namespace per::torch

#endif // PER_TORCH_TENSOR_REPLAY_HPP
