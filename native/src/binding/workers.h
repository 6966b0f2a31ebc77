// The two async shapes every binding uses, so no binding writes its own Napi::AsyncWorker:
//   run_async:    work on a libuv worker thread, then a promise that resolves with done(env);
//   StreamWorker: the same, with items of T streamed to a JS callback while the work runs.
// A std::exception thrown by the work rejects the promise with its message. Nothing here blocks
// the event loop.
#pragma once
#include <napi.h>

#include <functional>
#include <utility>

namespace moerig::binding {

using Work = std::function<void()>;
using ToJs = std::function<Napi::Value(Napi::Env)>;

// Runs `work` on a worker thread; resolves with `done(env)` or rejects with the exception text.
class PromiseWorker : public Napi::AsyncWorker {
  public:
    PromiseWorker(Napi::Env env, const char * name, Work work, ToJs done)
        : Napi::AsyncWorker(env, name), work_(std::move(work)), done_(std::move(done)),
          deferred_(Napi::Promise::Deferred::New(env)) {}

    Napi::Promise promise() const { return deferred_.Promise(); }

    void Execute() override {
        try {
            work_();
        } catch (const std::exception & e) {
            SetError(e.what());
        }
    }

    void OnOK() override { deferred_.Resolve(done_(Env())); }

    void OnError(const Napi::Error & e) override { deferred_.Reject(e.Value()); }

  private:
    Work                    work_;
    ToJs                    done_;
    Napi::Promise::Deferred deferred_;
};

// A promise already rejected with `reason`: bad options reject (never throw synchronously), so
// callers handle one failure path.
inline Napi::Value rejected(Napi::Env env, Napi::Value reason) {
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Reject(reason);
    return d.Promise();
}

// Queues a PromiseWorker (it deletes itself after OnOK / OnError) and returns its promise.
inline Napi::Value run_async(Napi::Env env, const char * name, Work work, ToJs done) {
    auto *        w = new PromiseWorker(env, name, std::move(work), std::move(done));
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
}

// A worker that streams items of T to a JS callback. node-addon-api's AsyncProgressQueueWorker
// delivers every send(data, count) as one OnProgress(data, count), in order, before OnOK: one call
// of item_js per send. `on_item` may be empty (no listener): then `send` is empty too, so the work
// can skip producing items. An exception thrown by the JS callback does not stop the work (it
// cannot be interrupted safely); later items are not delivered and the promise rejects with that
// exception once the work ends.
template <typename T>
class StreamWorker : public Napi::AsyncProgressQueueWorker<T> {
  public:
    using Send     = std::function<void(const T *, size_t)>;
    using StreamFn = std::function<void(const Send &)>;
    using ItemJs   = std::function<Napi::Value(Napi::Env, const T *, size_t)>;

    StreamWorker(Napi::Env env, const char * name, Napi::Function on_item, StreamFn work, ItemJs item_js, ToJs done)
        : Napi::AsyncProgressQueueWorker<T>(env, name), work_(std::move(work)), item_js_(std::move(item_js)),
          done_(std::move(done)), deferred_(Napi::Promise::Deferred::New(env)) {
        if (!on_item.IsEmpty()) on_item_ = Napi::Persistent(on_item);
    }

    Napi::Promise promise() const { return deferred_.Promise(); }

    // Queues the worker (it deletes itself after OnOK / OnError) and returns its promise.
    static Napi::Value start(Napi::Env env, const char * name, Napi::Function on_item, StreamFn work, ItemJs item_js,
                             ToJs done) {
        auto *        w = new StreamWorker(env, name, on_item, std::move(work), std::move(item_js), std::move(done));
        Napi::Promise p = w->promise();
        w->Queue();
        return p;
    }

    void Execute(const typename Napi::AsyncProgressQueueWorker<T>::ExecutionProgress & progress) override {
        Send send;
        if (!on_item_.IsEmpty()) send = [&progress](const T * data, size_t count) { progress.Send(data, count); };
        try {
            work_(send);
        } catch (const std::exception & e) {
            this->SetError(e.what());
        }
    }

    void OnProgress(const T * data, size_t count) override {
        if (on_item_.IsEmpty() || !callback_error_.IsEmpty()) return;
        Napi::Env         env = this->Env();
        Napi::HandleScope scope(env);
        try {
            on_item_.Call({item_js_(env, data, count)});
        } catch (const Napi::Error & e) {
            callback_error_ = Napi::Persistent(e.Value());
        }
    }

    void OnOK() override {
        if (!callback_error_.IsEmpty())
            deferred_.Reject(callback_error_.Value());
        else
            deferred_.Resolve(done_(this->Env()));
    }

    void OnError(const Napi::Error & e) override { deferred_.Reject(e.Value()); }

  private:
    Napi::FunctionReference on_item_;
    StreamFn                work_;
    ItemJs                  item_js_;
    ToJs                    done_;
    Napi::Promise::Deferred deferred_;
    Napi::ObjectReference   callback_error_;
};

} // namespace moerig::binding
