// Every message of the three wire packages, filled in every field by reflection, survives the
// binary and the JSON round trip unchanged. A field added to a .proto is covered automatically.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "accrue/loyalty/v1/loyalty.pb.h"
#include "accrue/pos/v1/pos.pb.h"
#include "accrue/sync/v1/sync.pb.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Fills every field with a non-default value (one element per repeated field). Of each oneof
// only member number `oneof_choice` (mod its size) is set; callers loop over the choices.
void fill(Message* m, int depth, int oneof_choice) {
  const Descriptor* d = m->GetDescriptor();
  const Reflection* r = m->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (const auto* o = f->real_containing_oneof()) {
      if (o->field(oneof_choice % o->field_count()) != f) continue;
    }
    const bool rep = f->is_repeated();
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        rep ? r->AddInt32(m, f, -7) : r->SetInt32(m, f, -7);
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        rep ? r->AddInt64(m, f, -(int64_t{1} << 40)) : r->SetInt64(m, f, -(int64_t{1} << 40));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        rep ? r->AddUInt32(m, f, 7) : r->SetUInt32(m, f, 7);
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        rep ? r->AddUInt64(m, f, uint64_t{1} << 50) : r->SetUInt64(m, f, uint64_t{1} << 50);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        rep ? r->AddBool(m, f, true) : r->SetBool(m, f, true);
        break;
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string v =
            f->type() == FieldDescriptor::TYPE_BYTES ? std::string("\x00\xff\x10", 3) : "zażółć ✓";
        rep ? r->AddString(m, f, v) : r->SetString(m, f, v);
        break;
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        const auto* e = f->enum_type();
        const auto* v = e->value(e->value_count() - 1);
        rep ? r->AddEnum(m, f, v) : r->SetEnum(m, f, v);
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        if (depth < 4)
          fill(rep ? r->AddMessage(m, f) : r->MutableMessage(m, f), depth + 1, oneof_choice);
        else if (!rep)
          r->MutableMessage(m, f);
        break;
      default:
        break;
    }
  }
}

std::vector<const Descriptor*> all_messages() {
  std::vector<const Descriptor*> out;
  for (const FileDescriptor* file : {accrue::loyalty::v1::Money::descriptor()->file(),
                                     accrue::pos::v1::Request::descriptor()->file(),
                                     accrue::sync::v1::EventBatch::descriptor()->file()}) {
    for (int i = 0; i < file->message_type_count(); ++i) out.push_back(file->message_type(i));
  }
  return out;
}

TEST(ContractsTest, CoversEveryPackage) { EXPECT_GT(all_messages().size(), 60u); }

TEST(ContractsTest, EveryMessageRoundTripsInBinaryAndJson) {
  google::protobuf::DynamicMessageFactory factory;
  for (const Descriptor* d : all_messages()) {
    for (int choice = 0; choice < 12; ++choice) {
      std::unique_ptr<Message> m(factory.GetPrototype(d)->New());
      fill(m.get(), 0, choice);
      SCOPED_TRACE(d->full_name() + " choice " + std::to_string(choice));

      std::unique_ptr<Message> bin(m->New());
      ASSERT_TRUE(bin->ParseFromString(m->SerializeAsString()));
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*m, *bin));

      std::string json;
      ASSERT_TRUE(google::protobuf::util::MessageToJsonString(*m, &json).ok());
      std::unique_ptr<Message> from_json(m->New());
      ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, from_json.get()).ok()) << json;
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*m, *from_json)) << json;
    }
  }
}

TEST(ContractsTest, ResponseEchoesARequestOperationForEveryRequest) {
  // Each Request op has a Response result with the same field number, so clients can pair them.
  const Descriptor* req = accrue::pos::v1::Request::descriptor();
  const Descriptor* resp = accrue::pos::v1::Response::descriptor();
  const auto* ops = req->FindOneofByName("op");
  ASSERT_NE(ops, nullptr);
  for (int i = 0; i < ops->field_count(); ++i) {
    EXPECT_NE(resp->FindFieldByNumber(ops->field(i)->number()), nullptr) << ops->field(i)->name();
  }
}

}  // namespace
